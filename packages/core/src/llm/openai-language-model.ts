import OpenAI, {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  AzureOpenAI,
} from "openai";
import type {
  ChatCompletionChunk,
  ChatCompletionCreateParamsBase,
  ChatCompletionMessageParam,
} from "openai/resources/chat/completions";
import { AbortedError, LlmNotConfiguredError, LlmResponseError, TaskWeaverError } from "../errors.js";
import { DEFAULT_RETRY_POLICY, retryAfterFromHeaders, retryDelay, sleep, type RetryPolicy } from "./retry.js";
import type {
  ChatMessage,
  ChatRequest,
  ChatStreamPart,
  ChatToolCall,
  LanguageModel,
  LlmRetryInfo,
  TokenUsage,
  UsageRecord,
} from "./types.js";

export const DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1";

export type { LlmRetryInfo } from "./types.js";

/** Options of `createLanguageModel`. */
export interface LanguageModelOptions {
  /** Model name; for Azure, the deployment name. */
  model: string;
  /**
   * `openai` covers OpenAI and every OpenAI-compatible server (Ollama, vLLM, LM Studio,
   * LiteLLM ...) through `baseUrl`; `azure` uses Azure OpenAI's deployment URLs.
   * @default "openai"
   */
  apiType?: "openai" | "azure";
  /** Sent as `Authorization: Bearer` (OpenAI) or `api-key` (Azure). Never logged. */
  apiKey?: string;
  /**
   * OpenAI-compatible base URL (ending in `/v1` for most servers), or for Azure the resource
   * endpoint (`https://NAME.openai.azure.com`).
   * @default "https://api.openai.com/v1"
   */
  baseUrl?: string;
  /** @default "2024-10-21" (a GA version that reports the usage of streamed answers) */
  azureApiVersion?: string;
  /** Supplies Microsoft Entra ID (AAD) tokens for Azure instead of `apiKey`. */
  azureAdTokenProvider?: () => Promise<string>;
  /** Model (Azure: deployment) used by `embed`. Without it `embed` throws `LlmNotConfiguredError`. */
  embeddingModel?: string;
  /** Response format when the request does not say. @default "json_object" */
  responseFormat?: "json_object" | "json_schema" | "text";
  /** @default 0 */
  temperature?: number;
  maxTokens?: number;
  seed?: number;
  /**
   * Stream answers token by token. Turn off for servers that cannot stream; the answer then
   * arrives as one text delta.
   * @default true
   */
  stream?: boolean;
  /**
   * Longest wait for the response to start, and for the next streamed chunk after that.
   * @default 120000
   */
  requestTimeoutMs?: number;
  /** Retries after a 408/409/429/5xx, a connection error or a timeout, before any streamed token. @default 3 */
  maxRetries?: number;
  /** @default 500 */
  retryBaseDelayMs?: number;
  /** @default 20000 */
  retryMaxDelayMs?: number;
  /** Jitter source, in [0, 1). @default Math.random */
  random?: () => number;
  /** Called before each retry. */
  onRetry?: (info: LlmRetryInfo) => void;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Extra HTTP headers for every request. */
  headers?: Record<string, string>;
}

interface Failure {
  retryable: boolean;
  status: number | undefined;
  headers: Headers | undefined;
  kind: "status" | "stream" | "connection" | "timeout" | "other";
  detail: string;
  cause: unknown;
}

/** A language model over the `openai` SDK: OpenAI, Azure OpenAI or any OpenAI-compatible server. */
export function createLanguageModel(options: LanguageModelOptions): LanguageModel {
  const apiType = options.apiType ?? "openai";
  const baseUrl = (options.baseUrl ?? DEFAULT_OPENAI_BASE_URL).replace(/\/+$/, "");
  const requestTimeoutMs = options.requestTimeoutMs ?? 120_000;
  const defaultResponseFormat = options.responseFormat ?? "json_object";
  const policy: RetryPolicy = {
    maxRetries: options.maxRetries ?? DEFAULT_RETRY_POLICY.maxRetries,
    baseDelayMs: options.retryBaseDelayMs ?? DEFAULT_RETRY_POLICY.baseDelayMs,
    maxDelayMs: options.retryMaxDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs,
    random: options.random ?? DEFAULT_RETRY_POLICY.random,
  };
  const usage: UsageRecord[] = [];
  // Reasoning models (o-series and the like) reject `temperature` and `max_tokens`; learnt from
  // the first 400 that names the parameter, then remembered for later calls.
  const compatibility = { omitTemperature: false, useMaxCompletionTokens: false };
  const azureApiVersion = options.azureApiVersion ?? "2024-10-21";
  // Azure rejects `stream_options` before API version 2024-09-01; token counts are then unknown.
  const askStreamUsage = apiType !== "azure" || azureApiVersion.slice(0, 10) >= "2024-09-01";
  const apiKey = options.apiKey;

  if (options.model.trim() === "") {
    throw new LlmNotConfiguredError("No model name given. Set llm.model (environment variable LLM_MODEL).", [
      "llm.model",
    ]);
  }

  // Our own retry loop does the retrying (maxRetries: 0) so it is observable and never
  // replays a stream the caller has already seen part of.
  let client: OpenAI;
  if (apiType === "azure") {
    if (apiKey === undefined && options.azureAdTokenProvider === undefined) {
      throw new LlmNotConfiguredError(
        "Azure OpenAI needs an API key: set llm.api_key (environment variable LLM_API_KEY).",
        ["llm.api_key"],
      );
    }
    client = new AzureOpenAI({
      // The SDK appends `/openai` itself; accept endpoints given with or without it.
      endpoint: baseUrl.replace(/\/openai$/, ""),
      apiVersion: azureApiVersion,
      ...(options.azureAdTokenProvider !== undefined
        ? { azureADTokenProvider: options.azureAdTokenProvider }
        : { apiKey }),
      maxRetries: 0,
      timeout: requestTimeoutMs,
      ...(options.fetch !== undefined ? { fetch: options.fetch } : {}),
      ...(options.headers !== undefined ? { defaultHeaders: options.headers } : {}),
    });
  } else {
    client = new OpenAI({
      // Local servers need no key, but the SDK insists on one.
      apiKey: apiKey ?? "no-key",
      baseURL: baseUrl,
      organization: null,
      project: null,
      maxRetries: 0,
      timeout: requestTimeoutMs,
      ...(options.fetch !== undefined ? { fetch: options.fetch } : {}),
      ...(options.headers !== undefined ? { defaultHeaders: options.headers } : {}),
    });
  }

  const where = apiType === "azure" ? `Azure OpenAI endpoint ${baseUrl}` : `model endpoint ${baseUrl}`;

  function redact(text: string): string {
    return apiKey !== undefined && apiKey.length >= 4 ? text.replaceAll(apiKey, "***") : text;
  }

  /**
   * Printing an error prints its cause too; a server that echoes the key back would leak it
   * there, so such a cause is replaced by a redacted copy.
   */
  function safeCause(cause: unknown): unknown {
    if (apiKey === undefined || apiKey.length < 4) return cause;
    let text: string;
    try {
      const body = cause instanceof APIError ? JSON.stringify(cause.error ?? null) : "";
      text = `${cause instanceof Error ? `${cause.message} ${cause.stack ?? ""}` : String(cause)} ${body}`;
    } catch {
      return undefined;
    }
    if (!text.includes(apiKey)) return cause;
    const copy = new Error(redact(cause instanceof Error ? cause.message : String(cause)));
    copy.name = cause instanceof Error ? cause.name : "Error";
    return copy;
  }

  function classify(error: unknown, timedOut: boolean): Failure {
    if (timedOut || error instanceof APIConnectionTimeoutError) {
      return {
        retryable: true,
        status: undefined,
        headers: undefined,
        kind: "timeout",
        detail: "timeout",
        cause: error,
      };
    }
    if (error instanceof APIError && error.status !== undefined) {
      const status = error.status;
      const retryable = status === 408 || status === 409 || status === 429 || status >= 500;
      return {
        retryable,
        status,
        headers: error.headers,
        kind: "status",
        detail: redact(error.message),
        cause: error,
      };
    }
    if (
      error instanceof APIError &&
      error.error !== undefined &&
      !(error instanceof APIUserAbortError) &&
      !(error instanceof APIConnectionError)
    ) {
      // An `{"error": ...}` frame inside the event stream: the server failed mid-answer.
      return {
        retryable: true,
        status: undefined,
        headers: error.headers,
        kind: "stream",
        detail: redact(error.message),
        cause: error,
      };
    }
    if (error instanceof TaskWeaverError) {
      return {
        retryable: false,
        status: undefined,
        headers: undefined,
        kind: "other",
        detail: error.message,
        cause: error,
      };
    }
    // APIConnectionError, a socket cut mid-stream (fetch's "terminated"), DNS failures ...
    const message = error instanceof Error ? error.message : String(error);
    const innerCause =
      error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : "";
    return {
      retryable: true,
      status: undefined,
      headers: undefined,
      kind: "connection",
      detail: redact(message + innerCause),
      cause: error,
    };
  }

  function toError(failure: Failure, attempts: number, model: string): TaskWeaverError {
    if (failure.kind === "other" && TaskWeaverError.isInstance(failure.cause)) return failure.cause;
    const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
    const options = {
      cause: safeCause(failure.cause),
      ...(failure.status !== undefined ? { status: failure.status } : {}),
    };
    const keyHint = "Check llm.api_key (environment variable LLM_API_KEY)";
    const modelHint =
      apiType === "azure"
        ? `Check that llm.model (LLM_MODEL) "${model}" is the name of a deployment of that resource, and llm.azure.api_version`
        : `Check the model name llm.model (LLM_MODEL) "${model}" and the base URL llm.api_base (LLM_API_BASE)`;
    switch (failure.kind) {
      case "timeout":
        return new LlmResponseError(
          `The ${where} did not answer within ${requestTimeoutMs / 1000} s${tries} (llm.request_timeout). ` +
            `Check that the server is up, or raise llm.request_timeout.`,
          options,
        );
      case "stream":
        return new LlmResponseError(
          `The ${where} reported an error while answering${tries}: ${failure.detail}. The server may be overloaded; try again later.`,
          options,
        );
      case "connection":
        return new LlmResponseError(
          `Could not reach the ${where}${tries}: ${failure.detail}. ` +
            `Check llm.api_base (LLM_API_BASE) and that the server is running.`,
          options,
        );
      case "status": {
        const status = failure.status ?? 0;
        const said = `It said: ${failure.detail}`;
        if (status === 401 || status === 403) {
          return new LlmResponseError(
            `The ${where} refused the credentials (HTTP ${status}). ${keyHint}. ${said}`,
            options,
          );
        }
        if (status === 404) {
          return new LlmResponseError(
            `The ${where} answered 404 for model "${model}". ${modelHint}. ${said}`,
            options,
          );
        }
        if (status === 429) {
          return new LlmResponseError(
            `The ${where} kept rate-limiting the requests (HTTP 429)${tries}. Wait a moment, or check your quota. ${said}`,
            options,
          );
        }
        if (status >= 500) {
          return new LlmResponseError(
            `The ${where} failed with HTTP ${status}${tries}. The server may be overloaded; try again later. ${said}`,
            options,
          );
        }
        return new LlmResponseError(
          `The ${where} rejected the request (HTTP ${status}). ${modelHint}; some models or servers do not ` +
            `support the requested response format (llm.response_format) or tools. ${said}`,
          options,
        );
      }
      case "other":
        return new LlmResponseError(`The ${where} call failed: ${failure.detail}`, options);
    }
  }

  function buildBody(request: ChatRequest): ChatCompletionCreateParamsBase {
    const format = request.responseFormat ?? defaultResponseFormat;
    const body: ChatCompletionCreateParamsBase = {
      model: options.model,
      messages: request.messages.map(toOpenAIMessage),
    };
    if (!compatibility.omitTemperature) body.temperature = options.temperature ?? 0;
    if (options.maxTokens !== undefined) {
      if (compatibility.useMaxCompletionTokens) body.max_completion_tokens = options.maxTokens;
      else body.max_tokens = options.maxTokens;
    }
    if (options.seed !== undefined) body.seed = options.seed;
    if (format === "json_object") {
      body.response_format = { type: "json_object" };
    } else if (format === "json_schema") {
      if (request.jsonSchema === undefined) {
        throw new TaskWeaverError(
          "llm_request_invalid",
          'A chat request with responseFormat "json_schema" must carry jsonSchema { name, schema }.',
        );
      }
      body.response_format = {
        type: "json_schema",
        json_schema: { name: request.jsonSchema.name, schema: request.jsonSchema.schema, strict: true },
      };
    }
    // `text` sends no response_format at all: some OpenAI-compatible servers reject the field.
    if (request.tools !== undefined && request.tools.length > 0) {
      body.tools = request.tools.map((tool) => ({
        type: "function",
        function: { name: tool.name, description: tool.description, parameters: tool.parameters },
      }));
    }
    return body;
  }

  /** One attempt: yields parts as they arrive, throws what went wrong. */
  async function* attempt(
    body: ChatCompletionCreateParamsBase,
    signal: AbortSignal | undefined,
    state: { timedOut: boolean; usage: TokenUsage | undefined },
  ): AsyncGenerator<ChatStreamPart> {
    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    // The SDK's timeout ends when the headers arrive; this one also covers a stream that stalls.
    let timer: NodeJS.Timeout | undefined;
    const armTimer = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        state.timedOut = true;
        controller.abort();
      }, requestTimeoutMs);
    };
    try {
      armTimer();
      if (options.stream === false) {
        const completion = await client.chat.completions.create(
          { ...body, stream: false },
          { signal: controller.signal },
        );
        const choice = completion.choices[0];
        const content = choice?.message.content ?? "";
        if (content !== "") yield { type: "text-delta", text: content };
        for (const call of choice?.message.tool_calls ?? []) {
          if (call.type === "function") {
            yield {
              type: "tool-call",
              toolCall: { id: call.id, name: call.function.name, arguments: call.function.arguments },
            };
          }
        }
        state.usage = fromOpenAIUsage(completion.usage);
        yield {
          type: "finish",
          finishReason: choice?.finish_reason ?? "stop",
          ...(state.usage ? { usage: state.usage } : {}),
        };
        return;
      }

      const stream = await client.chat.completions.create(
        { ...body, stream: true, ...(askStreamUsage ? { stream_options: { include_usage: true } } : {}) },
        { signal: controller.signal },
      );
      const toolCalls = new Map<number, ChatToolCall>();
      let finishReason: string | undefined;
      for await (const chunk of stream as AsyncIterable<ChatCompletionChunk>) {
        armTimer();
        if (chunk.usage) state.usage = fromOpenAIUsage(chunk.usage);
        const choice = chunk.choices[0];
        if (choice === undefined) continue;
        const content = choice.delta.content;
        if (typeof content === "string" && content !== "") {
          // The timer measures the server, not a caller that takes its time with each delta.
          clearTimeout(timer);
          yield { type: "text-delta", text: content };
          armTimer();
        }
        for (const delta of choice.delta.tool_calls ?? []) {
          const existing = toolCalls.get(delta.index);
          if (existing === undefined) {
            toolCalls.set(delta.index, {
              id: delta.id ?? `call_${delta.index}`,
              name: delta.function?.name ?? "",
              arguments: delta.function?.arguments ?? "",
            });
          } else {
            if (delta.id) existing.id = delta.id;
            if (delta.function?.name) existing.name += delta.function.name;
            if (delta.function?.arguments) existing.arguments += delta.function.arguments;
          }
        }
        if (choice.finish_reason) finishReason = choice.finish_reason;
      }
      // The SDK ends the iteration quietly when its signal aborts: tell a cut-off answer from a
      // complete one.
      if (signal?.aborted) throw new AbortedError();
      if (controller.signal.aborted) throw new LlmResponseError("The answer stopped arriving (timeout).");
      clearTimeout(timer);
      // Tool calls are only usable whole, so they are emitted once the stream is complete.
      for (const index of [...toolCalls.keys()].sort((left, right) => left - right)) {
        yield { type: "tool-call", toolCall: toolCalls.get(index)! };
      }
      yield {
        type: "finish",
        finishReason: finishReason ?? "stop",
        ...(state.usage ? { usage: state.usage } : {}),
      };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      // Closes the connection when the caller stopped reading early.
      controller.abort();
    }
  }

  /** Drops or renames a parameter the server said this model does not take. */
  function adaptToRejectedParameter(body: ChatCompletionCreateParamsBase, error: unknown): boolean {
    if (!(error instanceof APIError) || error.status !== 400) return false;
    if (error.param === "temperature" && body.temperature !== undefined) {
      delete body.temperature;
      compatibility.omitTemperature = true;
      return true;
    }
    if (error.param === "max_tokens" && body.max_tokens !== undefined && body.max_tokens !== null) {
      body.max_completion_tokens = body.max_tokens;
      delete body.max_tokens;
      compatibility.useMaxCompletionTokens = true;
      return true;
    }
    return false;
  }

  async function* streamChat(request: ChatRequest): AsyncGenerator<ChatStreamPart> {
    const startedAt = Date.now();
    const signal = request.signal;
    if (signal?.aborted) throw new AbortedError();
    const body = buildBody(request);
    for (let retry = 0; ; retry += 1) {
      const state: { timedOut: boolean; usage: TokenUsage | undefined } = {
        timedOut: false,
        usage: undefined,
      };
      let yielded = false;
      try {
        for await (const part of attempt(body, signal, state)) {
          yielded = true;
          yield part;
        }
        usage.push({
          model: options.model,
          tag: request.tag,
          usage: state.usage,
          durationMs: Date.now() - startedAt,
          at: new Date(startedAt).toISOString(),
        });
        return;
      } catch (error) {
        if (signal?.aborted) throw new AbortedError();
        if (!yielded && adaptToRejectedParameter(body, error)) {
          // Not a retry of the same request: this one differs, and it is sent at once.
          retry -= 1;
          continue;
        }
        const failure = classify(error, state.timedOut);
        // Once the caller has seen part of an answer a retry would duplicate it.
        if (yielded || !failure.retryable || retry >= policy.maxRetries) {
          if (yielded && failure.kind !== "other") {
            throw new LlmResponseError(
              `The ${where} broke off the answer mid-stream: ${failure.kind === "timeout" ? `no data for ${requestTimeoutMs / 1000} s (llm.request_timeout)` : failure.detail}.`,
              {
                cause: safeCause(failure.cause),
                ...(failure.status !== undefined ? { status: failure.status } : {}),
              },
            );
          }
          throw toError(failure, retry + 1, options.model);
        }
        const delayMs = retryDelay(policy, retry, retryAfterFromHeaders(failure.headers));
        const info = { retry: retry + 1, delayMs, status: failure.status, reason: failure.detail };
        options.onRetry?.(info);
        request.onRetry?.(info);
        await sleep(delayMs, signal);
      }
    }
  }

  async function embed(texts: string[], embedOptions?: { signal?: AbortSignal }): Promise<number[][]> {
    const embeddingModel = options.embeddingModel;
    if (embeddingModel === undefined || embeddingModel === "") {
      throw new LlmNotConfiguredError(
        "No embedding model is configured. Set llm.embedding_model (environment variable LLM_EMBEDDING_MODEL).",
        ["llm.embedding_model"],
      );
    }
    if (texts.length === 0) return [];
    const signal = embedOptions?.signal;
    const startedAt = Date.now();
    for (let retry = 0; ; retry += 1) {
      if (signal?.aborted) throw new AbortedError();
      const controller = new AbortController();
      const onAbort = (): void => controller.abort();
      signal?.addEventListener("abort", onAbort, { once: true });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, requestTimeoutMs);
      try {
        const response = await client.embeddings.create(
          { model: embeddingModel, input: texts, encoding_format: "float" },
          { signal: controller.signal },
        );
        const vectors = [...response.data]
          .sort((left, right) => left.index - right.index)
          .map((item) => item.embedding);
        if (vectors.length !== texts.length) {
          throw new LlmResponseError(
            `The ${where} returned ${vectors.length} embeddings for ${texts.length} texts.`,
          );
        }
        usage.push({
          model: embeddingModel,
          tag: "embedding",
          usage: {
            promptTokens: response.usage.prompt_tokens,
            completionTokens: 0,
            totalTokens: response.usage.total_tokens,
          },
          durationMs: Date.now() - startedAt,
          at: new Date(startedAt).toISOString(),
        });
        return vectors;
      } catch (error) {
        if (signal?.aborted) throw new AbortedError();
        const failure = classify(error, timedOut);
        if (!failure.retryable || retry >= policy.maxRetries)
          throw toError(failure, retry + 1, embeddingModel);
        const delayMs = retryDelay(policy, retry, retryAfterFromHeaders(failure.headers));
        options.onRetry?.({ retry: retry + 1, delayMs, status: failure.status, reason: failure.detail });
        await sleep(delayMs, signal);
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      }
    }
  }

  return {
    modelId: options.model,
    streamChat,
    embed,
    usage,
  };
}

function toOpenAIMessage(message: ChatMessage): ChatCompletionMessageParam {
  switch (message.role) {
    case "system":
      return { role: "system", content: message.content };
    case "user":
      return { role: "user", content: message.content };
    case "assistant":
      return message.toolCalls !== undefined && message.toolCalls.length > 0
        ? {
            role: "assistant",
            content: message.content,
            tool_calls: message.toolCalls.map((call) => ({
              id: call.id,
              type: "function",
              function: { name: call.name, arguments: call.arguments },
            })),
          }
        : { role: "assistant", content: message.content };
    case "tool":
      return { role: "tool", content: message.content, tool_call_id: message.toolCallId };
  }
}

function fromOpenAIUsage(
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null | undefined,
): TokenUsage | undefined {
  if (usage === null || usage === undefined) return undefined;
  return {
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens,
    totalTokens: usage.total_tokens,
  };
}
