import type OpenAI from "openai";
import type { ChatCompletionChunk, ChatCompletionCreateParamsBase } from "openai/resources/chat/completions";
import { AbortedError, LlmNotConfiguredError, LlmResponseError } from "../../errors.js";
import { retryAfterFromHeaders, retryDelay, sleep } from "../retry.js";
import type {
  ChatRequest,
  ChatStreamPart,
  LanguageModel,
  LlmRetryInfo,
  ModelProvider,
  TokenUsage,
  UsageRecord,
} from "../types.js";
import { costOfCall } from "../../usage/pricing.js";
import { reportModelCall } from "../../usage/usage-scope.js";
import { noteChatResponse } from "../../tracing/chat-span.js";
import { AttemptSignal } from "./attempt-signal.js";
import {
  adaptToRejectedParameter,
  toOpenAIChatBody,
  type ParameterCompatibility,
} from "./convert-to-openai-request.js";
import {
  brokenStreamError,
  classifyFailure,
  failureToError,
  type Failure,
} from "./openai-compatible-errors.js";
import {
  createOpenAIClient,
  resolveSettings,
  type OpenAICompatibleModelOptions,
  type OpenAICompatibleSettings,
} from "./openai-compatible-settings.js";
import { ChunkConverter, completionToParts, fromOpenAIUsage } from "./openai-stream-parts.js";

/** What one attempt leaves behind for the retry loop. */
interface AttemptState {
  timedOut: boolean;
  usage: TokenUsage | undefined;
}

/**
 * A chat and embedding model behind the OpenAI chat completions API, over the `openai` SDK:
 * OpenAI, Azure OpenAI or any OpenAI-compatible server (Ollama, vLLM, LM Studio, LiteLLM ...).
 *
 * Throws `LlmNotConfiguredError` when built without a model name, or for Azure without a key.
 */
export class OpenAICompatibleChatModel implements LanguageModel {
  readonly modelId: string;
  readonly provider: ModelProvider;
  readonly usage: UsageRecord[] = [];
  // `#` fields, not `private`: printing the model (console.log, util.inspect) must not show the key.
  readonly #options: OpenAICompatibleModelOptions;
  readonly #settings: OpenAICompatibleSettings;
  readonly #client: OpenAI;
  readonly #compatibility: ParameterCompatibility = { omitTemperature: false, useMaxCompletionTokens: false };

  constructor(options: OpenAICompatibleModelOptions) {
    this.#options = options;
    this.#settings = resolveSettings(options);
    this.#client = createOpenAIClient(options, this.#settings);
    this.modelId = options.model;
    this.provider = providerOf(this.#settings);
  }

  async *streamChat(request: ChatRequest): AsyncGenerator<ChatStreamPart> {
    const startedAt = Date.now();
    const signal = request.signal;
    if (signal?.aborted) throw new AbortedError();
    const body = toOpenAIChatBody(request, this.#options, this.#settings, this.#compatibility);
    for (let retry = 0; ; retry += 1) {
      const state: AttemptState = { timedOut: false, usage: undefined };
      let yielded = false;
      try {
        for await (const part of this.#chatAttempt(body, signal, state)) {
          yielded = true;
          yield part;
        }
        this.#recordUsage(this.#settings.model, request.tag, state.usage, startedAt);
        return;
      } catch (error) {
        if (signal?.aborted) throw new AbortedError();
        if (!yielded && adaptToRejectedParameter(body, error, this.#compatibility)) {
          // Not a retry of the same request: this one differs, and it is sent at once.
          retry -= 1;
          continue;
        }
        const failure = classifyFailure(error, state.timedOut, this.#settings.apiKey);
        // Once the caller has seen part of an answer a retry would duplicate it.
        if (yielded && failure.kind !== "other") throw brokenStreamError(failure, this.#settings);
        if (yielded || !this.#mayRetry(failure, retry)) {
          throw failureToError(failure, retry + 1, this.#settings.model, this.#settings);
        }
        await this.#waitBeforeRetry(failure, retry, signal, request.onRetry);
      }
    }
  }

  async embed(texts: string[], options?: { signal?: AbortSignal }): Promise<number[][]> {
    const embeddingModel = this.#options.embeddingModel;
    if (embeddingModel === undefined || embeddingModel === "") {
      throw new LlmNotConfiguredError(
        "No embedding model is configured. Set llm.embedding_model (environment variable LLM_EMBEDDING_MODEL).",
        ["llm.embedding_model"],
      );
    }
    if (texts.length === 0) return [];
    const signal = options?.signal;
    const startedAt = Date.now();
    for (let retry = 0; ; retry += 1) {
      if (signal?.aborted) throw new AbortedError();
      const attempt = new AttemptSignal(signal, this.#settings.requestTimeoutMs);
      try {
        attempt.arm();
        return await this.#embedAttempt(embeddingModel, texts, attempt.signal, startedAt);
      } catch (error) {
        if (signal?.aborted) throw new AbortedError();
        const failure = classifyFailure(error, attempt.timedOut, this.#settings.apiKey);
        if (!this.#mayRetry(failure, retry))
          throw failureToError(failure, retry + 1, embeddingModel, this.#settings);
        await this.#waitBeforeRetry(failure, retry, signal, undefined);
      } finally {
        attempt.dispose();
      }
    }
  }

  /** One attempt: yields parts as they arrive, throws what went wrong. */
  async *#chatAttempt(
    body: ChatCompletionCreateParamsBase,
    callerSignal: AbortSignal | undefined,
    state: AttemptState,
  ): AsyncGenerator<ChatStreamPart> {
    const attempt = new AttemptSignal(callerSignal, this.#settings.requestTimeoutMs);
    try {
      attempt.arm();
      if (this.#options.stream === false) {
        const completion = await this.#client.chat.completions.create(
          { ...body, stream: false },
          { signal: attempt.signal },
        );
        attempt.pause();
        noteChatResponse(completion.model, completion.id);
        state.usage = fromOpenAIUsage(completion.usage);
        yield* completionToParts(completion);
        return;
      }
      yield* this.#streamedParts(body, callerSignal, attempt, state);
    } finally {
      attempt.dispose();
      state.timedOut = attempt.timedOut;
    }
  }

  async *#streamedParts(
    body: ChatCompletionCreateParamsBase,
    callerSignal: AbortSignal | undefined,
    attempt: AttemptSignal,
    state: AttemptState,
  ): AsyncGenerator<ChatStreamPart> {
    const stream = await this.#client.chat.completions.create(
      {
        ...body,
        stream: true,
        ...(this.#settings.askStreamUsage ? { stream_options: { include_usage: true } } : {}),
      },
      { signal: attempt.signal },
    );
    const converter = new ChunkConverter();
    let first = true;
    for await (const chunk of stream as AsyncIterable<ChatCompletionChunk>) {
      attempt.arm();
      if (first) noteChatResponse(chunk.model, chunk.id);
      first = false;
      const part = converter.add(chunk);
      state.usage = converter.usage;
      if (part !== undefined) {
        // The timer measures the server, not a caller that takes its time with each delta.
        attempt.pause();
        yield part;
        attempt.arm();
      }
    }
    // The SDK ends the iteration quietly when its signal aborts: tell a cut-off answer from a
    // complete one.
    if (callerSignal?.aborted) throw new AbortedError();
    if (attempt.signal.aborted) throw new LlmResponseError("The answer stopped arriving (timeout).");
    attempt.pause();
    yield* converter.finish();
  }

  async #embedAttempt(
    embeddingModel: string,
    texts: string[],
    signal: AbortSignal,
    startedAt: number,
  ): Promise<number[][]> {
    const response = await this.#client.embeddings.create(
      { model: embeddingModel, input: texts, encoding_format: "float" },
      { signal },
    );
    const vectors = [...response.data]
      .sort((left, right) => left.index - right.index)
      .map((item) => item.embedding);
    if (vectors.length !== texts.length) {
      throw new LlmResponseError(
        `The ${this.#settings.where} returned ${vectors.length} embeddings for ${texts.length} texts.`,
      );
    }
    const usage = {
      promptTokens: response.usage.prompt_tokens,
      completionTokens: 0,
      totalTokens: response.usage.total_tokens,
    };
    this.#recordUsage(embeddingModel, "embedding", usage, startedAt);
    return vectors;
  }

  #mayRetry(failure: Failure, retry: number): boolean {
    return failure.retryable && retry < this.#settings.retryPolicy.maxRetries;
  }

  /** Tells the listeners, then waits the backoff (or what the server asked for). */
  async #waitBeforeRetry(
    failure: Failure,
    retry: number,
    signal: AbortSignal | undefined,
    onRequestRetry: ((info: LlmRetryInfo) => void) | undefined,
  ): Promise<void> {
    const delayMs = retryDelay(this.#settings.retryPolicy, retry, retryAfterFromHeaders(failure.headers));
    const info: LlmRetryInfo = { retry: retry + 1, delayMs, status: failure.status, reason: failure.detail };
    this.#options.onRetry?.(info);
    onRequestRetry?.(info);
    await sleep(delayMs, signal);
  }

  #recordUsage(
    model: string,
    tag: string | undefined,
    usage: TokenUsage | undefined,
    startedAt: number,
  ): void {
    const durationMs = Date.now() - startedAt;
    this.usage.push({ model, tag, usage, durationMs, at: new Date(startedAt).toISOString() });
    reportModelCall({ model, usage, durationMs, costUsd: costOfCall(this.#options.pricing, model, usage) });
  }
}

/** The provider as the GenAI conventions name it; any OpenAI-compatible server speaks the OpenAI API. */
function providerOf(settings: OpenAICompatibleSettings): ModelProvider {
  const provider: ModelProvider = { name: settings.apiType === "azure" ? "azure.ai.openai" : "openai" };
  try {
    const url = new URL(settings.baseUrl);
    provider.serverAddress = url.hostname;
    provider.serverPort = url.port !== "" ? Number(url.port) : url.protocol === "http:" ? 80 : 443;
  } catch {
    // A base URL the SDK will reject anyway; the span goes without a server address.
  }
  return provider;
}

/**
 * The OpenAI-compatible provider: a language model over the `openai` SDK for OpenAI, Azure
 * OpenAI (`apiType: "azure"`) or any OpenAI-compatible server through `baseUrl`.
 */
export function createOpenAICompatibleModel(options: OpenAICompatibleModelOptions): LanguageModel {
  return new OpenAICompatibleChatModel(options);
}
