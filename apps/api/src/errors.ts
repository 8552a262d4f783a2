import {
  FileAccessError,
  TaskWeaverError,
  toTaskWeaverError,
  type TaskWeaverErrorCode,
} from "@taskweaver/core";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { StoreUnavailableError } from "./store/store-errors.js";

/** One problem with one field of a request, for `error.details`. */
export interface FieldIssue {
  /** Dotted path of the field, e.g. `files.0`; `""` for the body as a whole. */
  field: string;
  message: string;
}

const apiErrorMarker = Symbol.for("taskweaver.api.ApiError");

/**
 * An error the API answers with a specific HTTP status. Route code throws these; the single
 * error handler (`app.onError`) turns them, and every other error, into `{"error": {...}}`.
 */
export class ApiError extends TaskWeaverError {
  /** HTTP status code of the answer. */
  readonly status: ContentfulStatusCode;
  /** Per-field problems for validation errors. */
  readonly details: FieldIssue[] | undefined;
  /** Extra headers of the answer, e.g. `Allow` with a 405. */
  readonly headers: Record<string, string> | undefined;
  private readonly [apiErrorMarker] = true;

  constructor(
    status: ContentfulStatusCode,
    code: TaskWeaverErrorCode,
    message: string,
    options?: { details?: FieldIssue[]; cause?: unknown; headers?: Record<string, string> },
  ) {
    super(code, message, options);
    this.status = status;
    this.details = options?.details;
    this.headers = options?.headers;
  }

  /** Works across duplicated module copies, where `instanceof` would not. */
  static override isInstance(value: unknown): value is ApiError {
    return (
      typeof value === "object" &&
      value !== null &&
      (value as Record<symbol, unknown>)[apiErrorMarker] === true
    );
  }
}

/** The JSON body of every error answer. */
export interface ErrorBody {
  error: { code: string; message: string; request_id?: string; details?: FieldIssue[] };
}

/** What {@link describeError} makes of an error. */
export interface DescribedError {
  status: ContentfulStatusCode;
  body: ErrorBody;
  headers: Record<string, string>;
  /** True for the server's own failures (status 500 and above), which are logged. */
  internal: boolean;
}

/** The one media type every JSON-bodied route takes; uploads say their own. */
export const JSON_MEDIA_TYPE = "application/json";

/**
 * Maps anything thrown while handling a request to a status, headers and a JSON body. This is
 * the one place where errors become HTTP statuses.
 */
export function describeError(error: unknown): DescribedError {
  const answer = (
    status: ContentfulStatusCode,
    code: string,
    message: string,
    headers: Record<string, string> = {},
  ) => ({
    status,
    body: { error: { code, message } } as ErrorBody,
    headers: status === 401 ? { "WWW-Authenticate": 'Bearer realm="taskweaver"', ...headers } : headers,
    internal: status >= 500,
  });
  if (ApiError.isInstance(error)) {
    const described = answer(error.status, error.code, error.message, error.headers);
    if (error.details) described.body.error.details = error.details;
    return described;
  }
  if (error instanceof HTTPException) {
    // Hono's own validators and middleware throw these.
    const status = error.status as ContentfulStatusCode;
    if (status === 400 && /json/i.test(error.message))
      return answer(400, "invalid_json", "The request body is not valid JSON.");
    if (status === 415) {
      return answer(
        415,
        "unsupported_media_type",
        `The request body must be ${JSON_MEDIA_TYPE}: send it with \`Content-Type: ${JSON_MEDIA_TYPE}\`.`,
      );
    }
    if (status === 413)
      return answer(413, "payload_too_large", error.message || "The request body is too large.");
    if (status === 401) return answer(401, "unauthorized", error.message || "Unauthorized.");
    return answer(status, "bad_request", error.message || "Bad request.");
  }
  // The caller's doing rather than the server's: a path outside the working directory, a
  // missing file. The code tells the two kinds of FileAccessError apart (its union is closed).
  if (FileAccessError.isInstance(error)) {
    if (error.code === "file_not_found") return answer(404, error.code, error.message);
    if (error.code === "path_outside_workdir") return answer(400, error.code, error.message);
  }
  // The session database is down, full or locked by someone else: the server itself is sound
  // and the same request may succeed once that passes, which is what 503 says to clients and
  // load balancers. The message names the database and the cause.
  if (StoreUnavailableError.isInstance(error)) return answer(503, error.code, error.message, { "Retry-After": "5" });
  const wrapped = toTaskWeaverError(error);
  return answer(500, wrapped.code, wrapped.message);
}

export const notFound = (what: string) => new ApiError(404, "not_found", `${what} was not found.`);

/**
 * A round that ran while a store write of it failed: its record lacks what came after that
 * write, so the caller is not told it finished. 503 `store_unavailable` like any store fault.
 */
export function roundNotStored(cause: unknown): ApiError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new ApiError(
    503,
    "store_unavailable",
    `The round ran, but storing it failed, so the stored session lacks its end: ${why} Sending the message again runs the round again.`,
    { cause, headers: { "Retry-After": "5" } },
  );
}
