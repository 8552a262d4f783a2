import { FileAccessError, TaskWeaverError, toTaskWeaverError } from "@taskweaver/core";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** One problem with one field of a request, for `error.details`. */
export interface FieldIssue {
  /** Dotted path of the field, e.g. `files.0`; `""` for the body as a whole. */
  field: string;
  message: string;
}

/**
 * An error the API answers with a specific HTTP status. Route code throws these; the single
 * error handler (`app.onError`) turns them, and every other error, into `{"error": {...}}`.
 */
export class ApiError extends TaskWeaverError {
  /** HTTP status code of the answer. */
  readonly status: ContentfulStatusCode;
  /** Per-field problems for validation errors. */
  readonly details: FieldIssue[] | undefined;

  constructor(
    status: ContentfulStatusCode,
    code: string,
    message: string,
    options?: { details?: FieldIssue[]; cause?: unknown },
  ) {
    super(code, message, options);
    this.status = status;
    this.details = options?.details;
  }
}

/** Statuses of the core error codes that are the caller's doing rather than the server's. */
const CORE_CODE_STATUS: Record<string, ContentfulStatusCode> = {
  round_in_progress: 409,
  session_stopped: 409,
  file_not_found: 404,
  path_outside_workdir: 400,
};

/** The JSON body of every error answer. */
export interface ErrorBody {
  error: { code: string; message: string; request_id?: string; details?: FieldIssue[] };
}

/** Maps anything thrown while handling a request to a status and a JSON body. */
export function describeError(error: unknown): {
  status: ContentfulStatusCode;
  body: ErrorBody;
  internal: boolean;
} {
  if (error instanceof ApiError) {
    const body: ErrorBody = { error: { code: error.code, message: error.message } };
    if (error.details) body.error.details = error.details;
    return { status: error.status, body, internal: error.status >= 500 };
  }
  if (error instanceof HTTPException) {
    // Hono's own validators throw these, e.g. for a body that is not JSON.
    const status = error.status as ContentfulStatusCode;
    const malformedJson = status === 400 && /json/i.test(error.message);
    const code = malformedJson
      ? "invalid_json"
      : status === 413
        ? "payload_too_large"
        : status === 401
          ? "unauthorized"
          : "bad_request";
    const message = malformedJson ? "The request body is not valid JSON." : error.message || "Bad request.";
    return { status, body: { error: { code, message } }, internal: status >= 500 };
  }
  if (error instanceof FileAccessError || TaskWeaverError.isInstance(error)) {
    const status = CORE_CODE_STATUS[error.code];
    if (status)
      return { status, body: { error: { code: error.code, message: error.message } }, internal: false };
  }
  const wrapped = toTaskWeaverError(error);
  return {
    status: 500,
    body: {
      error: {
        code: wrapped.code === "internal_error" ? "internal_error" : wrapped.code,
        message: wrapped.message,
      },
    },
    internal: true,
  };
}

export const notFound = (what: string) => new ApiError(404, "not_found", `${what} was not found.`);
