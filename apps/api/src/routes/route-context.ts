import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { RequestIdVariables } from "hono/request-id";
import type { ZodError } from "zod";
import { ApiError, describeError, notFound, type FieldIssue } from "../errors.js";
import { ErrorSchema } from "../schemas.js";
import type { ApiLimits, SessionManager } from "../session-manager.js";
import type { SessionRecord, SessionStore } from "../store/session-store.js";

/** Hono variables of every request: its id and the key hash of the caller (`null` without keys). */
export type ApiEnvironment = { Variables: RequestIdVariables & { owner: string | null } };

/** What the route modules share. */
export interface RouteContext {
  sessions: SessionManager;
  store: SessionStore;
  limits: ApiLimits;
  /** With keys, a session is visible only to the key that created it. */
  keysConfigured: boolean;
  /** Interval of the `: keep-alive` comment on quiet event streams. */
  heartbeatMs: number;
  version: string;
}

/** A sub-app whose request validation failures become our 422 answers. */
export function createRouter(): OpenAPIHono<ApiEnvironment> {
  return new OpenAPIHono<ApiEnvironment>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target);
    },
  });
}

/** The JSON error answer for `error`, with the request id: used by `onError` and the 405 answer. */
export function errorResponse(c: Context<ApiEnvironment>, error: unknown): Response {
  const { status, body, headers } = describeError(error);
  body.error.request_id = c.get("requestId");
  return c.json(body, status, headers);
}

/** The session if the caller may see it; others' sessions are indistinguishable from missing ones. */
export async function visibleSession(
  context: RouteContext,
  c: Context<ApiEnvironment>,
  id: string,
): Promise<SessionRecord> {
  const record = await context.store.getSession(id);
  if (!record || (context.keysConfigured && record.ownerKeyHash !== c.get("owner")))
    throw notFound(`Session ${JSON.stringify(id)}`);
  return record;
}

/** Zod issues as field-naming messages: `files.0: expected string, received number`. */
function fieldIssues(error: ZodError): FieldIssue[] {
  return error.issues.map((issue) => {
    if (issue.code === "unrecognized_keys") {
      const prefix = issue.path.length > 0 ? `${issue.path.join(".")}.` : "";
      return {
        field: issue.keys.map((key) => prefix + key).join(", "),
        message: `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((key) => JSON.stringify(prefix + key)).join(", ")}`,
      };
    }
    return { field: issue.path.join("."), message: issue.message };
  });
}

export function validationError(error: ZodError, target: string): ApiError {
  const details = fieldIssues(error);
  const tooLong = error.issues.some((issue) => issue.code === "too_big" && issue.path[0] === "message");
  const summary = details
    .map((detail) => (detail.field ? `${detail.field}: ${detail.message}` : detail.message))
    .join("; ");
  const where = target === "json" ? "request body" : target === "param" ? "path" : target;
  if (tooLong) return new ApiError(422, "message_too_long", `Invalid ${where}: ${summary}`, { details });
  return new ApiError(422, "validation_failed", `Invalid ${where}: ${summary}`, { details });
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: "Malformed request (not JSON, bad file name, path outside the working directory)",
  401: "Missing or wrong API key",
  404: "No such session (or not yours), file or route",
  405: "The path exists but not with this method (see the Allow header)",
  409: "A round is already running in this session",
  413: "Request body or upload too large",
  415: "The body is not of the media type the route takes (unsupported_media_type)",
  422: "Request does not match the schema (wrong type, unknown field, message too long)",
  429: "All session slots are busy",
  503: "The server is shutting down",
};

/** OpenAPI error answers for the given statuses, all of the one error shape. */
export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((status) => [
      status,
      {
        description: ERROR_DESCRIPTIONS[status] ?? "Error",
        content: { "application/json": { schema: ErrorSchema } },
      },
    ]),
  );

/** The OpenAPI security requirement of the routes that need a key when keys are configured. */
export const secured = [{ apiKey: [] as string[] }];
