import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai";
import { LlmResponseError, TaskWeaverError } from "../../errors.js";
import type { OpenAICompatibleSettings } from "./openai-compatible-settings.js";

/** What went wrong in one attempt, and whether another attempt may help. */
export interface Failure {
  retryable: boolean;
  status: number | undefined;
  headers: Headers | undefined;
  kind: "status" | "stream" | "connection" | "timeout" | "other";
  /** The server's or the SDK's words, with the API key taken out. */
  detail: string;
  cause: unknown;
}

/** The parts of the settings the error mapping reads. */
export type ErrorContext = Pick<
  OpenAICompatibleSettings,
  "apiKey" | "apiType" | "where" | "requestTimeoutMs"
>;

/** 408, 409, 429 and every 5xx may pass on a later attempt. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

function redact(text: string, apiKey: string | undefined): string {
  return apiKey !== undefined && apiKey.length >= 4 ? text.replaceAll(apiKey, "***") : text;
}

/**
 * Printing an error prints its cause too; a server that echoes the key back would leak it
 * there, so such a cause is replaced by a redacted copy.
 */
export function safeCause(cause: unknown, apiKey: string | undefined): unknown {
  if (apiKey === undefined || apiKey.length < 4) return cause;
  let text: string;
  try {
    const body = cause instanceof APIError ? JSON.stringify(cause.error ?? null) : "";
    text = `${cause instanceof Error ? `${cause.message} ${cause.stack ?? ""}` : String(cause)} ${body}`;
  } catch {
    return undefined;
  }
  if (!text.includes(apiKey)) return cause;
  const copy = new Error(redact(cause instanceof Error ? cause.message : String(cause), apiKey));
  copy.name = cause instanceof Error ? cause.name : "Error";
  return copy;
}

function failure(
  kind: Failure["kind"],
  retryable: boolean,
  detail: string,
  cause: unknown,
  from?: APIError,
): Failure {
  return {
    retryable,
    status: kind === "status" ? from?.status : undefined,
    headers: kind === "status" || kind === "stream" ? from?.headers : undefined,
    kind,
    detail,
    cause,
  };
}

/** Sorts what an SDK call threw into a `Failure`. `timedOut`: our own timer aborted it. */
export function classifyFailure(error: unknown, timedOut: boolean, apiKey: string | undefined): Failure {
  if (timedOut || error instanceof APIConnectionTimeoutError)
    return failure("timeout", true, "timeout", error);
  if (error instanceof APIError && error.status !== undefined) {
    return failure("status", isRetryableStatus(error.status), redact(error.message, apiKey), error, error);
  }
  if (
    error instanceof APIError &&
    error.error !== undefined &&
    !(error instanceof APIUserAbortError) &&
    !(error instanceof APIConnectionError)
  ) {
    // An `{"error": ...}` frame inside the event stream: the server failed mid-answer.
    return failure("stream", true, redact(error.message, apiKey), error, error);
  }
  if (TaskWeaverError.isInstance(error)) return failure("other", false, error.message, error);
  // APIConnectionError, a socket cut mid-stream (fetch's "terminated"), DNS failures ...
  const message = error instanceof Error ? error.message : String(error);
  const innerCause =
    error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : "";
  return failure("connection", true, redact(message + innerCause, apiKey), error);
}

function errorOptions(failed: Failure, context: ErrorContext): { cause: unknown; status?: number } {
  return {
    cause: safeCause(failed.cause, context.apiKey),
    ...(failed.status !== undefined ? { status: failed.status } : {}),
  };
}

function statusMessage(
  status: number,
  detail: string,
  tries: string,
  model: string,
  context: ErrorContext,
): string {
  const { where } = context;
  const said = `It said: ${detail}`;
  const modelHint =
    context.apiType === "azure"
      ? `Check that llm.model (LLM_MODEL) "${model}" is the name of a deployment of that resource, and llm.azure.api_version`
      : `Check the model name llm.model (LLM_MODEL) "${model}" and the base URL llm.api_base (LLM_API_BASE)`;
  if (status === 401 || status === 403) {
    return `The ${where} refused the credentials (HTTP ${status}). Check llm.api_key (environment variable LLM_API_KEY). ${said}`;
  }
  if (status === 404) return `The ${where} answered 404 for model "${model}". ${modelHint}. ${said}`;
  if (status === 429) {
    return `The ${where} kept rate-limiting the requests (HTTP 429)${tries}. Wait a moment, or check your quota. ${said}`;
  }
  if (status >= 500) {
    return `The ${where} failed with HTTP ${status}${tries}. The server may be overloaded; try again later. ${said}`;
  }
  return (
    `The ${where} rejected the request (HTTP ${status}). ${modelHint}; some models or servers do not ` +
    `support the requested response format (llm.response_format) or tools. ${said}`
  );
}

/** The error a caller sees once no retry is left: what failed and which setting to check. */
export function failureToError(
  failed: Failure,
  attempts: number,
  model: string,
  context: ErrorContext,
): TaskWeaverError {
  if (failed.kind === "other" && TaskWeaverError.isInstance(failed.cause)) return failed.cause;
  const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
  const { where } = context;
  switch (failed.kind) {
    case "timeout":
      return new LlmResponseError(
        `The ${where} did not answer within ${context.requestTimeoutMs / 1000} s${tries} (llm.request_timeout). ` +
          `Check that the server is up, or raise llm.request_timeout.`,
        errorOptions(failed, context),
      );
    case "stream":
      return new LlmResponseError(
        `The ${where} reported an error while answering${tries}: ${failed.detail}. The server may be overloaded; try again later.`,
        errorOptions(failed, context),
      );
    case "connection":
      return new LlmResponseError(
        `Could not reach the ${where}${tries}: ${failed.detail}. ` +
          `Check llm.api_base (LLM_API_BASE) and that the server is running.`,
        errorOptions(failed, context),
      );
    case "status":
      return new LlmResponseError(
        statusMessage(failed.status ?? 0, failed.detail, tries, model, context),
        errorOptions(failed, context),
      );
    case "other":
      return new LlmResponseError(
        `The ${where} call failed: ${failed.detail}`,
        errorOptions(failed, context),
      );
  }
}

/** A stream that failed after the caller saw part of the answer: never retried, since that would repeat it. */
export function brokenStreamError(failed: Failure, context: ErrorContext): LlmResponseError {
  const reason =
    failed.kind === "timeout"
      ? `no data for ${context.requestTimeoutMs / 1000} s (llm.request_timeout)`
      : failed.detail;
  return new LlmResponseError(
    `The ${context.where} broke off the answer mid-stream: ${reason}.`,
    errorOptions(failed, context),
  );
}
