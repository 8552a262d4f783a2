import OpenAI, { AzureOpenAI } from "openai";
import { LlmNotConfiguredError } from "../../errors.js";
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "../retry.js";
import type { ModelPricing } from "../../usage/pricing.js";
import type { LlmRetryInfo } from "../types.js";

export const DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1";

/** Options of `createOpenAICompatibleModel`. */
export interface OpenAICompatibleModelOptions {
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
  /** Sent as `max_tokens` (or `max_completion_tokens` to models that reject it). @default unset */
  maxTokens?: number;
  /** @default unset */
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
  /** Called before each retry. @default none */
  onRetry?: (info: LlmRetryInfo) => void;
  /** Prices per model (`llm.pricing`), giving each call a cost in round usage. @default none */
  pricing?: ModelPricing;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Extra HTTP headers for every request. @default none */
  headers?: Record<string, string>;
}

/** The options with their defaults applied, as the model and its error mapping read them. */
export interface OpenAICompatibleSettings {
  model: string;
  apiType: "openai" | "azure";
  apiKey: string | undefined;
  baseUrl: string;
  azureApiVersion: string;
  requestTimeoutMs: number;
  defaultResponseFormat: "json_object" | "json_schema" | "text";
  retryPolicy: RetryPolicy;
  /** Azure rejects `stream_options` before API version 2024-09-01; token counts are then unknown. */
  askStreamUsage: boolean;
  /** How messages name the server: "model endpoint URL" or "Azure OpenAI endpoint URL". */
  where: string;
}

/** Applies the defaults; throws `LlmNotConfiguredError` for an empty model name. */
export function resolveSettings(options: OpenAICompatibleModelOptions): OpenAICompatibleSettings {
  if (options.model.trim() === "") {
    throw new LlmNotConfiguredError("No model name given. Set llm.model (environment variable LLM_MODEL).", [
      "llm.model",
    ]);
  }
  const apiType = options.apiType ?? "openai";
  const baseUrl = (options.baseUrl ?? DEFAULT_OPENAI_BASE_URL).replace(/\/+$/, "");
  const azureApiVersion = options.azureApiVersion ?? "2024-10-21";
  return {
    model: options.model,
    apiType,
    apiKey: options.apiKey,
    baseUrl,
    azureApiVersion,
    requestTimeoutMs: options.requestTimeoutMs ?? 120_000,
    defaultResponseFormat: options.responseFormat ?? "json_object",
    retryPolicy: {
      maxRetries: options.maxRetries ?? DEFAULT_RETRY_POLICY.maxRetries,
      baseDelayMs: options.retryBaseDelayMs ?? DEFAULT_RETRY_POLICY.baseDelayMs,
      maxDelayMs: options.retryMaxDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs,
      random: options.random ?? DEFAULT_RETRY_POLICY.random,
    },
    askStreamUsage: apiType !== "azure" || azureApiVersion.slice(0, 10) >= "2024-09-01",
    where: apiType === "azure" ? `Azure OpenAI endpoint ${baseUrl}` : `model endpoint ${baseUrl}`,
  };
}

/**
 * The SDK client. Our own retry loop does the retrying (`maxRetries: 0`) so it is observable
 * and never replays a stream the caller has already seen part of.
 */
export function createOpenAIClient(
  options: OpenAICompatibleModelOptions,
  settings: OpenAICompatibleSettings,
): OpenAI {
  const shared = {
    maxRetries: 0,
    timeout: settings.requestTimeoutMs,
    ...(options.fetch !== undefined ? { fetch: options.fetch } : {}),
    ...(options.headers !== undefined ? { defaultHeaders: options.headers } : {}),
  };
  if (settings.apiType !== "azure") {
    return new OpenAI({
      // Local servers need no key, but the SDK insists on one.
      apiKey: settings.apiKey ?? "no-key",
      baseURL: settings.baseUrl,
      organization: null,
      project: null,
      ...shared,
    });
  }
  if (settings.apiKey === undefined && options.azureAdTokenProvider === undefined) {
    throw new LlmNotConfiguredError(
      "Azure OpenAI needs an API key: set llm.api_key (environment variable LLM_API_KEY).",
      ["llm.api_key"],
    );
  }
  return new AzureOpenAI({
    // The SDK appends `/openai` itself; accept endpoints given with or without it.
    endpoint: settings.baseUrl.replace(/\/openai$/, ""),
    apiVersion: settings.azureApiVersion,
    ...(options.azureAdTokenProvider !== undefined
      ? { azureADTokenProvider: options.azureAdTokenProvider }
      : { apiKey: settings.apiKey }),
    ...shared,
  });
}
