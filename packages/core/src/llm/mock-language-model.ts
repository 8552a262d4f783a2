import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { Document, isMap, isSeq, parse } from "yaml";
import { z } from "zod";
import { AbortedError, ConfigError, LlmResponseError, MockAnswerMissingError } from "../errors.js";
import { costOfCall, type ModelPricing } from "../usage/pricing.js";
import { reportModelCall } from "../usage/usage-scope.js";
import type {
  ChatRequest,
  ChatStreamPart,
  ChatToolCall,
  LanguageModel,
  TokenUsage,
  UsageRecord,
} from "./types.js";

/**
 * `playback_or_record` answers from the cache and records misses with the real model;
 * `playback_only` never calls a model (a miss is an error); `record_only` always calls the
 * model and overwrites the cache entry; `fixed` answers `fixedResponse` to everything.
 */
export type MockMode = "playback_or_record" | "playback_only" | "record_only" | "fixed";

/** Options of `createMockLanguageModel`. */
export interface MockLanguageModelOptions {
  /** @default "playback_or_record" */
  mode?: MockMode;
  /** The YAML cache file. Required in every mode but `fixed`. */
  cachePath?: string;
  /** The answer of `fixed` mode. */
  fixedResponse?: string;
  /**
   * The real model that answers cache misses. A function is only called on the first miss,
   * so playback works without any model configured. Without one, a miss throws
   * `MockAnswerMissingError` in every mode but `record_only`.
   * @default none
   */
  recorder?: LanguageModel | (() => LanguageModel);
  /** Response format that counts for the cache key when a request names none. @default "json_object" */
  defaultResponseFormat?: "json_object" | "json_schema" | "text";
  /** Characters per played-back text delta, so frontends still see the answer stream. @default 8 */
  playbackChunkSize?: number;
  /** @default the recorder's model id when given as a value, else "mock" */
  modelId?: string;
  /** Prices per model (`llm.pricing`), giving played-back calls a cost in round usage. @default none */
  pricing?: ModelPricing;
}

const ToolCallSchema = z.object({ id: z.string(), name: z.string(), arguments: z.string() });
const ChatEntrySchema = z.object({
  /** The last user message, so a person can find an entry in the file. */
  request_preview: z.string().optional(),
  content: z.string(),
  tool_calls: z.array(ToolCallSchema).optional(),
  finish_reason: z.string().default("stop"),
  recorded_at: z.string().optional(),
});
const CacheFileSchema = z.object({
  version: z.literal(1).default(1),
  chat: z.record(z.string(), ChatEntrySchema).default({}),
  embeddings: z.record(z.string(), z.array(z.number())).default({}),
});
type ChatEntry = z.output<typeof ChatEntrySchema>;
type CacheFile = z.output<typeof CacheFileSchema>;

/** Sorted keys, so the same request always hashes the same way. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function hash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 32);
}

/**
 * The cache key of a chat request: messages, response format (with schema) and tools. The
 * model name is left out so a recording made with one model plays back under another.
 */
export function chatRequestCacheKey(
  request: ChatRequest,
  defaultResponseFormat: "json_object" | "json_schema" | "text" = "json_object",
): string {
  const responseFormat = request.responseFormat ?? defaultResponseFormat;
  return hash(
    canonicalJson({
      messages: request.messages,
      responseFormat,
      jsonSchema: responseFormat === "json_schema" ? request.jsonSchema : undefined,
      tools: request.tools !== undefined && request.tools.length > 0 ? request.tools : undefined,
    }),
  );
}

/** The cache key of one text to embed. */
export function embeddingCacheKey(text: string): string {
  return hash(canonicalJson({ embed: text }));
}

/** A stand-in vector for `fixed` mode: deterministic, and similar texts get similar vectors. */
function fixedEmbedding(text: string): number[] {
  const vector = new Array<number>(32).fill(0);
  const padded = ` ${text.toLowerCase()} `;
  for (let index = 0; index + 3 <= padded.length; index += 1) {
    const digest = createHash("sha1")
      .update(padded.slice(index, index + 3))
      .digest();
    vector[digest[0]! % 32]! += 1;
  }
  const length = Math.hypot(...vector) || 1;
  return vector.map((value) => value / length);
}

function previewOf(request: ChatRequest): string {
  for (let index = request.messages.length - 1; index >= 0; index -= 1) {
    const message = request.messages[index]!;
    if (message.role === "user") {
      const text =
        typeof message.content === "string"
          ? message.content
          : message.content.map((part) => (part.type === "text" ? part.text : "[image]")).join(" ");
      return text.length > 200 ? `${text.slice(0, 200)}...` : text;
    }
  }
  return "";
}

const REAL_MODEL_HINT =
  "To use a real model, set the environment variables LLM_API_KEY and LLM_MODEL (or llm.api_key and " +
  "llm.model in taskweaver_config.json; llm.api_base for a local OpenAI-compatible server such as Ollama). " +
  "With llm.use_mock on, its answers are then recorded; with llm.use_mock off, every request goes to it.";

const OWN_QUESTIONS_HINT =
  "To ask your own questions, use a real model: set the environment variables LLM_API_KEY and LLM_MODEL " +
  "(or llm.api_key and llm.model in taskweaver_config.json; llm.api_base for a local OpenAI-compatible " +
  'server such as Ollama) and turn llm.use_mock off, or set llm.mock.mode to "playback_or_record" to ' +
  "record its answers.";

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A language model that records real answers to a YAML file and plays them back, for demos,
 * tests and repeatable runs without a model endpoint.
 */
export function createMockLanguageModel(options: MockLanguageModelOptions = {}): LanguageModel {
  const mode = options.mode ?? "playback_or_record";
  const cachePath = options.cachePath;
  const defaultResponseFormat = options.defaultResponseFormat ?? "json_object";
  const chunkSize = Math.max(1, options.playbackChunkSize ?? 8);
  const usage: UsageRecord[] = [];
  if (mode === "fixed" && options.fixedResponse === undefined) {
    throw new ConfigError(
      'llm.mock.mode is "fixed" but llm.mock.fixed_response is not set (environment variable LLM_MOCK_FIXED_RESPONSE).',
    );
  }
  if (mode !== "fixed" && (cachePath === undefined || cachePath === "")) {
    throw new ConfigError(`llm.mock.mode "${mode}" needs a cache file: set llm.mock.cache_path.`);
  }
  const modelId =
    options.modelId ??
    (typeof options.recorder === "object" ? options.recorder.modelId : undefined) ??
    "mock";

  let recorder: LanguageModel | undefined =
    typeof options.recorder === "object" ? options.recorder : undefined;
  /** The real model for a miss; `missing` says what the miss was, for the error without one. */
  function getRecorder(missing: () => MockAnswerMissingError): LanguageModel {
    if (recorder !== undefined) return recorder;
    if (typeof options.recorder === "function") {
      recorder = options.recorder();
      return recorder;
    }
    if (mode === "record_only") {
      throw new ConfigError(
        `The mock model (llm.mock.mode "record_only") has no real model to record with. Configure llm.model ` +
          `(and llm.api_key or llm.api_base), or use llm.mock.mode "playback_only".`,
      );
    }
    throw missing();
  }

  /** What the recording holds, in words: "the recording X holds 3 recorded requests". */
  function describeRecording(): string {
    const count = Object.keys(loadCache().chat).length;
    if (count === 0 && !existsSync(cachePath!)) return `the recording ${cachePath} does not exist yet`;
    return `the recording ${cachePath} holds ${count} recorded request${count === 1 ? "" : "s"}`;
  }

  function missingAnswer(what: "answer" | "embedding", preview: string, key: string): MockAnswerMissingError {
    // The preview is often a multi-line prompt; one line reads better inside a sentence.
    const oneLine = preview.replace(/\s+/g, " ").trim();
    const subject = oneLine === "" ? "this request" : `"${oneLine}"`;
    const message =
      mode === "playback_only"
        ? `The mock model has no recorded ${what} for ${subject}: ${describeRecording()}, and ` +
          `llm.mock.mode "playback_only" plays back only those, word for word. ${OWN_QUESTIONS_HINT}`
        : `The mock model has no recorded ${what} for ${subject}, and no real model is configured to ` +
          `answer and record it: ${describeRecording()}. ${REAL_MODEL_HINT}`;
    return new MockAnswerMissingError(`${message} (Request key ${key}.)`, {
      cachePath: cachePath!,
      requestPreview: preview,
    });
  }

  let cache: CacheFile | undefined;
  function loadCache(): CacheFile {
    if (cache !== undefined) return cache;
    cache = readCacheFile(cachePath!) ?? { version: 1, chat: {}, embeddings: {} };
    return cache;
  }

  // Writes are chained so concurrent recordings never interleave their renames.
  let writing: Promise<void> = Promise.resolve();
  function persist(): Promise<void> {
    const path = cachePath!;
    const next = writing.then(async () => {
      const current = loadCache();
      // Merge with what is on disk, so two sessions recording into one file keep both answers.
      const onDisk = readCacheFile(path);
      const merged: CacheFile = {
        version: 1,
        chat: { ...onDisk?.chat, ...current.chat },
        embeddings: { ...onDisk?.embeddings, ...current.embeddings },
      };
      cache = merged;
      await mkdir(dirname(path), { recursive: true });
      const temporary = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
      try {
        await writeFile(temporary, toYaml(merged), "utf8");
        // A rename within one folder is atomic: readers see the old file or the new one, never half.
        await rename(temporary, path);
      } catch (error) {
        await rm(temporary, { force: true });
        throw new LlmResponseError(`Could not write the mock cache ${path}: ${(error as Error).message}`, {
          cause: error,
        });
      }
    });
    // One failed write must not fail every later one.
    writing = next.catch(() => undefined);
    return next;
  }

  async function* playback(
    entry: ChatEntry,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<ChatStreamPart> {
    const characters = Array.from(entry.content);
    for (let start = 0; start < characters.length; start += chunkSize) {
      if (signal?.aborted) throw new AbortedError();
      yield { type: "text-delta", text: characters.slice(start, start + chunkSize).join("") };
      await yieldToEventLoop();
    }
    if (signal?.aborted) throw new AbortedError();
    for (const toolCall of entry.tool_calls ?? []) yield { type: "tool-call", toolCall };
    yield { type: "finish", finishReason: entry.finish_reason };
  }

  async function* streamChat(request: ChatRequest): AsyncGenerator<ChatStreamPart> {
    const startedAt = Date.now();
    // A recorded call is reported to round usage by the recorder itself, so only played-back ones are here.
    const record = (tokens: TokenUsage | undefined, model: string, played = true): void => {
      const durationMs = Date.now() - startedAt;
      usage.push({ model, tag: request.tag, usage: tokens, durationMs, at: new Date(startedAt).toISOString() });
      if (played) reportModelCall({ model, usage: tokens, durationMs, costUsd: costOfCall(options.pricing, model, tokens) });
    };
    if (request.signal?.aborted) throw new AbortedError();

    if (mode === "fixed") {
      yield* playback({ content: options.fixedResponse!, finish_reason: "stop" }, request.signal);
      record(undefined, modelId);
      return;
    }

    const key = chatRequestCacheKey(request, defaultResponseFormat);
    const cached = mode === "record_only" ? undefined : loadCache().chat[key];
    if (cached !== undefined) {
      yield* playback(cached, request.signal);
      record(undefined, modelId);
      return;
    }
    const missing = (): MockAnswerMissingError => missingAnswer("answer", previewOf(request), key);
    if (mode === "playback_only") throw missing();

    const model = getRecorder(missing);
    let content = "";
    const toolCalls: ChatToolCall[] = [];
    let finishReason = "stop";
    let tokens: TokenUsage | undefined;
    // Parts pass through as they arrive, so recording streams like a real call.
    for await (const part of model.streamChat(request)) {
      if (part.type === "text-delta") content += part.text;
      else if (part.type === "tool-call") toolCalls.push(part.toolCall);
      else {
        finishReason = part.finishReason;
        tokens = part.usage;
      }
      yield part;
    }
    loadCache().chat[key] = {
      request_preview: previewOf(request),
      content,
      ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
      finish_reason: finishReason,
      recorded_at: new Date().toISOString(),
    };
    await persist();
    record(tokens, model.modelId, false);
  }

  async function embed(texts: string[], embedOptions?: { signal?: AbortSignal }): Promise<number[][]> {
    const signal = embedOptions?.signal;
    if (signal?.aborted) throw new AbortedError();
    if (mode === "fixed") return texts.map(fixedEmbedding);
    const entries = loadCache().embeddings;
    const keys = texts.map(embeddingCacheKey);
    const missing =
      mode === "record_only"
        ? texts.map((_, index) => index)
        : keys.flatMap((key, index) => (entries[key] === undefined ? [index] : []));
    if (missing.length > 0) {
      const first = missing[0]!;
      const more = missing.length > 1 ? ` and ${missing.length - 1} more texts` : "";
      const missingEmbedding = (): MockAnswerMissingError =>
        missingAnswer("embedding", `${texts[first]!.slice(0, 80)}${more}`, keys[first]!);
      if (mode === "playback_only") throw missingEmbedding();
      const vectors = await getRecorder(missingEmbedding).embed(
        missing.map((index) => texts[index]!),
        signal !== undefined ? { signal } : undefined,
      );
      missing.forEach((textIndex, position) => {
        entries[keys[textIndex]!] = vectors[position]!;
      });
      await persist();
    }
    return keys.map((key) => loadCache().embeddings[key]!);
  }

  return { modelId, streamChat, embed, usage };
}

function toYaml(cache: CacheFile): string {
  const document = new Document(cache);
  // One vector a line: block style would put each of a thousand numbers on its own line.
  const embeddings = document.get("embeddings");
  if (isMap(embeddings)) {
    for (const pair of embeddings.items) if (isSeq(pair.value)) pair.value.flow = true;
  }
  return document.toString({ lineWidth: 0 });
}

function readCacheFile(path: string): CacheFile | undefined {
  if (!existsSync(path)) return undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(
      `Cannot read the mock cache ${path} (llm.mock.cache_path): ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  let data: unknown;
  try {
    data = text.trim() === "" ? {} : parse(text);
  } catch (error) {
    throw new ConfigError(
      `The mock cache ${path} (llm.mock.cache_path) is not valid YAML: ${(error as Error).message}. ` +
        `Fix or delete the file.`,
      { cause: error },
    );
  }
  const result = CacheFileSchema.safeParse(data ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(
      `The mock cache ${path} (llm.mock.cache_path) has an unexpected shape at ` +
        `"${issue?.path.join(".") ?? ""}": ${issue?.message ?? "invalid"}. Fix or delete the file.`,
    );
  }
  return result.data;
}
