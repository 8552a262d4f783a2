/**
 * The few calls roles need from a model. `createOpenAICompatibleModel` (the `openai` SDK: OpenAI,
 * Azure OpenAI, any OpenAI-compatible server) and the record/replay mock implement it; a
 * library user may bring their own.
 */

export type ChatContentPart =
  | { type: "text"; text: string }
  | { type: "image_url"; image_url: { url: string } };

export interface ChatToolCall {
  id: string;
  name: string;
  /** JSON text of the arguments, as the model produced it. */
  arguments: string;
}

export type ChatMessage =
  | { role: "system"; content: string }
  | { role: "user"; content: string | ChatContentPart[] }
  | { role: "assistant"; content: string; toolCalls?: ChatToolCall[] }
  | { role: "tool"; content: string; toolCallId: string };

/** A function the model may call (used by the plugin-only role). */
export interface ChatTool {
  name: string;
  description: string;
  /** JSON Schema of the parameters. */
  parameters: Record<string, unknown>;
}

export interface ChatRequest {
  messages: ChatMessage[];
  /**
   * `json_object` asks for any JSON object; `json_schema` sends `jsonSchema` as a strict
   * schema; `text` asks for nothing special.
   * @default the configured `llm.response_format`
   */
  responseFormat?: "json_object" | "json_schema" | "text";
  /** Required with `responseFormat: "json_schema"`. */
  jsonSchema?: { name: string; schema: Record<string, unknown> };
  tools?: ChatTool[];
  /** Aborting stops the HTTP request at once. */
  signal?: AbortSignal;
  /** Tag for usage accounting, e.g. the role name. */
  tag?: string;
  /**
   * Called before each retry of this request (rate limit, server error, timeout before the
   * first token), e.g. to show "rate limited, retrying in 2 s". The model's own `onRetry` is
   * called too.
   */
  onRetry?: (info: LlmRetryInfo) => void;
}

/** Details of a retry about to happen, e.g. to show "rate limited, retrying in 2 s". */
export interface LlmRetryInfo {
  /** 1 for the first retry. */
  retry: number;
  delayMs: number;
  /** HTTP status of the failed attempt, when it got one. */
  status: number | undefined;
  reason: string;
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Prompt tokens the server served from its cache (part of `promptTokens`), when it says. */
  cachedPromptTokens?: number;
}

export type ChatStreamPart =
  | { type: "text-delta"; text: string }
  | { type: "tool-call"; toolCall: ChatToolCall }
  | { type: "finish"; finishReason: string; usage?: TokenUsage };

/** One completed call, as recorded by the client. */
export interface UsageRecord {
  model: string;
  tag: string | undefined;
  usage: TokenUsage | undefined;
  durationMs: number;
  at: string;
}

/** Who serves a model, for telemetry (`gen_ai.provider.name`, `server.address`, `server.port`). */
export interface ModelProvider {
  /** A GenAI provider name of the OpenTelemetry conventions, e.g. `openai`, `azure.ai.openai`. */
  name: string;
  serverAddress?: string;
  serverPort?: number;
}

export interface LanguageModel {
  /** The model (or Azure deployment) name. */
  readonly modelId: string;
  /** Who serves the model, for traces. @default unknown */
  readonly provider?: ModelProvider;
  /** Streams a chat completion. Throws `LlmResponseError` after retries, `AbortedError` on abort. */
  streamChat(request: ChatRequest): AsyncIterable<ChatStreamPart>;
  /** Embeds texts with the configured embedding model. */
  embed(texts: string[], options?: { signal?: AbortSignal }): Promise<number[][]>;
  /** Token usage of every call made so far. */
  readonly usage: readonly UsageRecord[];
}
