import { createReadStream } from "node:fs";
import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import { OpenAPIHono, createRoute, type z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { streamSSE, type SSEStreamingApi } from "hono/streaming";
import type { ZodError } from "zod";
import { renderDocsPage } from "./docs-page.js";
import { ApiError, describeError, notFound, type FieldIssue } from "./errors.js";
import { contentTypeFor, checkUploadName, saveUpload } from "./files.js";
import type { RoundOutcome } from "./round-run.js";
import type { TaskWeaverRuntime } from "./runtime.js";
import {
  CreateSessionRequestSchema,
  ErrorSchema,
  EventListSchema,
  EventSchema,
  EventsQuerySchema,
  FileListSchema,
  FileParamsSchema,
  HealthSchema,
  InterruptResultSchema,
  RoundSchema,
  SessionDetailSchema,
  SessionIdParamsSchema,
  SessionListSchema,
  SessionSchema,
  UploadRequestSchema,
  UploadResultSchema,
  createMessageRequestSchema,
} from "./schemas.js";
import { createSessionManager, type ApiLimits, type SessionManager } from "./session-manager.js";
import { DEFAULT_LIMITS, apiKeysFrom, hashApiKey, limitsFromConfig } from "./settings.js";
import type { SessionRecord, SessionStore, StoredEvent } from "./store/session-store.js";

/** One line of the request log. */
export interface RequestLogEntry {
  requestId: string;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  /** Set for answers with status 500 and above. */
  error?: unknown;
}

/** What {@link createApi} needs. */
export interface ApiDependencies {
  /** The TaskWeaver app (`createTaskWeaver()` from `@taskweaver/core`) the sessions run on. */
  runtime: TaskWeaverRuntime;
  /** Where sessions, rounds, posts and events are kept (see `createSqliteSessionStore`). */
  store: SessionStore;
  /**
   * Accepted API keys (bearer tokens). With none, every request is allowed and every session
   * visible, which is only safe on a loopback address.
   * @default `TASKWEAVER_API_KEYS` and the config key `api.keys`
   */
  apiKeys?: string[];
  /** @default the `api.*` config keys of `runtime.config` */
  limits?: Partial<ApiLimits>;
  /** Receives one entry per request. @default a line on stderr */
  logRequest?: (entry: RequestLogEntry) => void;
  /** @default process.env, read for `TASKWEAVER_API_KEYS` */
  env?: Record<string, string | undefined>;
  /** Reported by the health route and the OpenAPI document. @default "0.1.0" */
  version?: string;
  /** Interval of the `: keep-alive` comment on quiet event streams. @default 15000 */
  heartbeatMs?: number;
}

/** The Hono app of the API, plus the handle to drain it on shutdown. */
export type ApiApp = OpenAPIHono<ApiEnvironment> & {
  /** The live sessions: used by the server for shutdown, and by tests. */
  readonly sessions: SessionManager;
  /**
   * Refuses new rounds (503), waits for running ones up to the grace period, fails the rest,
   * stops every kernel. The store and runtime stay open: their owner closes them.
   */
  shutdown(gracePeriodMs?: number): Promise<void>;
};

type ApiEnvironment = { Variables: { requestId: string; owner: string | null } };

const PREFIX = "/api/v1";

function defaultLogRequest(entry: RequestLogEntry): void {
  const line = `${new Date().toISOString()} ${entry.requestId} ${entry.method} ${entry.path} ${entry.status} ${entry.durationMs.toFixed(1)}ms`;
  process.stderr.write(
    entry.error
      ? `${line} ${String(entry.error instanceof Error ? (entry.error.stack ?? entry.error) : entry.error)}\n`
      : `${line}\n`,
  );
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

function validationError(error: ZodError, target: string): ApiError {
  const details = fieldIssues(error);
  const tooLong = error.issues.some((issue) => issue.code === "too_big" && issue.path[0] === "message");
  const summary = details
    .map((detail) => (detail.field ? `${detail.field}: ${detail.message}` : detail.message))
    .join("; ");
  const where = target === "json" ? "request body" : target === "param" ? "path" : target;
  if (tooLong) return new ApiError(422, "message_too_long", `Invalid ${where}: ${summary}`, { details });
  return new ApiError(422, "validation_failed", `Invalid ${where}: ${summary}`, { details });
}

/** EventSource clients send `text/event-stream`; anything else gets JSON. */
function wantsEventStream(c: Context): boolean {
  return (c.req.header("accept") ?? "").toLowerCase().includes("text/event-stream");
}

/**
 * Runs `body` on an SSE stream with a comment line every `intervalMs`, so proxies and clients
 * do not take a quiet stream (code running for minutes) for a dead one.
 */
async function withHeartbeat(
  stream: SSEStreamingApi,
  intervalMs: number,
  body: () => Promise<void>,
): Promise<void> {
  const timer = setInterval(() => {
    if (!stream.aborted && !stream.closed) stream.write(": keep-alive\n\n").catch(() => {});
  }, intervalMs);
  try {
    await body();
  } finally {
    clearInterval(timer);
  }
}

function writeEvent(stream: SSEStreamingApi, item: StoredEvent): Promise<void> {
  return stream.writeSSE({ id: String(item.seq), event: item.event.type, data: JSON.stringify(item.event) });
}

const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((status) => [
      status,
      {
        description: ERROR_DESCRIPTIONS[status] ?? "Error",
        content: { "application/json": { schema: ErrorSchema } },
      },
    ]),
  );

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: "Malformed request (not JSON, bad file name, path outside the working directory)",
  401: "Missing or wrong API key",
  404: "No such session (or not yours), file or route",
  409: "A round is already running in this session",
  413: "Request body or upload too large",
  422: "Request does not match the schema (wrong type, unknown field, message too long)",
  429: "All session slots are busy",
  503: "The server is shutting down",
};

/**
 * Builds the HTTP API over a TaskWeaver runtime and a session store. Returns the Hono app:
 * serve it with `@hono/node-server` (see `startApiServer`) or call `app.request()` in tests.
 */
export function createApi(dependencies: ApiDependencies): ApiApp {
  const { runtime, store } = dependencies;
  const limits: ApiLimits = {
    ...(runtime.config ? limitsFromConfig(runtime.config) : DEFAULT_LIMITS),
    ...dependencies.limits,
  };
  const keyHashes = new Set(
    (dependencies.apiKeys ?? apiKeysFrom(runtime.config, dependencies.env)).map(hashApiKey),
  );
  const keysConfigured = keyHashes.size > 0;
  const logRequest = dependencies.logRequest ?? defaultLogRequest;
  const version = dependencies.version ?? "0.1.0";
  const heartbeatMs = dependencies.heartbeatMs ?? 15_000;
  const sessions = createSessionManager({
    runtime,
    store,
    limits,
    log: (message, error) =>
      logRequest({ requestId: "-", method: "-", path: message, status: 0, durationMs: 0, error }),
  });

  const app = new OpenAPIHono<ApiEnvironment>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target);
    },
  });

  // Request ids and the request log come first so every answer, errors included, has both.
  app.use("*", async (c, next) => {
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && /^[\w.:-]{1,128}$/.test(incoming) ? incoming : randomUUID();
    c.set("requestId", requestId);
    const started = performance.now();
    await next();
    c.header("X-Request-Id", requestId);
    logRequest({
      requestId,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      durationMs: performance.now() - started,
      ...(c.error && c.res.status >= 500 ? { error: c.error } : {}),
    });
  });

  const tooLarge = (limit: number, what: string) => () => {
    throw new ApiError(413, "payload_too_large", `The ${what} is larger than ${limit} bytes.`);
  };
  const jsonBodyLimit = bodyLimit({
    maxSize: limits.maxBodyBytes,
    onError: tooLarge(limits.maxBodyBytes, "request body"),
  });
  const uploadBodyLimit = bodyLimit({
    maxSize: limits.maxUploadBytes,
    onError: tooLarge(limits.maxUploadBytes, "upload"),
  });
  app.use(`${PREFIX}/*`, (c, next) =>
    c.req.method === "POST" && /\/files\/?$/.test(c.req.path)
      ? uploadBodyLimit(c, next)
      : jsonBodyLimit(c, next),
  );

  const openPaths = new Set([`${PREFIX}/health`, `${PREFIX}/openapi.json`, `${PREFIX}/docs`]);
  app.use(`${PREFIX}/*`, async (c, next) => {
    if (!keysConfigured || openPaths.has(c.req.path)) {
      c.set("owner", null);
      return next();
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
    const hash = match ? hashApiKey(match[1]!) : undefined;
    if (!hash || !keyHashes.has(hash)) {
      c.header("WWW-Authenticate", 'Bearer realm="taskweaver"');
      throw new ApiError(
        401,
        "unauthorized",
        match ? "The API key is not valid." : "An API key is required: send `Authorization: Bearer <key>`.",
      );
    }
    c.set("owner", hash);
    return next();
  });

  app.onError((error, c) => {
    const { status, body } = describeError(error);
    body.error.request_id = c.get("requestId");
    if (status === 401) c.header("WWW-Authenticate", 'Bearer realm="taskweaver"');
    return c.json(body, status);
  });
  app.notFound((c) =>
    c.json(
      {
        error: {
          code: "not_found",
          message: `No route for ${c.req.method} ${c.req.path}.`,
          request_id: c.get("requestId"),
        },
      },
      404,
    ),
  );

  /** The session if the caller may see it; others' sessions are indistinguishable from missing ones. */
  const visibleSession = (c: Context<ApiEnvironment>, id: string): SessionRecord => {
    const record = store.getSession(id);
    if (!record || (keysConfigured && record.ownerKeyHash !== c.get("owner")))
      throw notFound(`Session ${JSON.stringify(id)}`);
    return record;
  };

  const roundJson = (outcome: RoundOutcome): z.infer<typeof RoundSchema> => ({
    ...outcome.round,
    error: outcome.error,
  });

  app.openAPIRegistry.registerComponent("securitySchemes", "apiKey", {
    type: "http",
    scheme: "bearer",
    description:
      "One of the keys in TASKWEAVER_API_KEYS or the config key api.keys. Not needed when no key is configured.",
  });
  const secured = [{ apiKey: [] as string[] }];

  // --- health -----------------------------------------------------------------------------
  app.openapi(
    createRoute({
      method: "get",
      path: `${PREFIX}/health`,
      summary: "Is the server up",
      tags: ["meta"],
      responses: {
        200: { description: "Serving", content: { "application/json": { schema: HealthSchema } } },
        503: { description: "Shutting down", content: { "application/json": { schema: HealthSchema } } },
      },
    }),
    (c) => {
      const body = {
        status: sessions.draining ? ("shutting_down" as const) : ("ok" as const),
        version,
        sessions: sessions.liveCount,
      };
      return sessions.draining ? c.json(body, 503) : c.json(body, 200);
    },
  );

  // --- sessions ---------------------------------------------------------------------------
  app.openapi(
    createRoute({
      method: "post",
      path: `${PREFIX}/sessions`,
      summary: "Create a session (starts its kernel)",
      tags: ["sessions"],
      security: secured,
      request: {
        body: { required: false, content: { "application/json": { schema: CreateSessionRequestSchema } } },
      },
      responses: {
        201: { description: "Created", content: { "application/json": { schema: SessionSchema } } },
        ...errorResponses(400, 401, 413, 422, 429, 503),
      },
    }),
    async (c) => c.json(await sessions.create(c.get("owner")), 201),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${PREFIX}/sessions`,
      summary: "List your sessions",
      tags: ["sessions"],
      security: secured,
      responses: {
        200: {
          description: "Sessions, oldest first",
          content: { "application/json": { schema: SessionListSchema } },
        },
        ...errorResponses(401),
      },
    }),
    (c) => c.json({ sessions: sessions.list(keysConfigured ? c.get("owner") : undefined) }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${PREFIX}/sessions/{id}`,
      summary: "A session with its rounds and posts",
      tags: ["sessions"],
      security: secured,
      request: { params: SessionIdParamsSchema },
      responses: {
        200: { description: "The session", content: { "application/json": { schema: SessionDetailSchema } } },
        ...errorResponses(401, 404),
      },
    }),
    (c) => {
      const record = visibleSession(c, c.req.valid("param").id);
      const rounds = store.listRounds(record.id).map(({ createdAt, finishedAt, ...round }) => ({
        ...round,
        created_at: createdAt,
        finished_at: finishedAt,
      }));
      return c.json({ ...sessions.view(record), rounds }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: `${PREFIX}/sessions/{id}`,
      summary: "Stop a session's kernel and delete it with its history and files",
      tags: ["sessions"],
      security: secured,
      request: { params: SessionIdParamsSchema },
      responses: { 204: { description: "Deleted" }, ...errorResponses(401, 404) },
    }),
    async (c) => {
      await sessions.delete(visibleSession(c, c.req.valid("param").id));
      return c.body(null, 204);
    },
  );

  // --- rounds and events ------------------------------------------------------------------
  const MessageRequestSchema = createMessageRequestSchema(limits.maxMessageChars);
  app.openapi(
    createRoute({
      method: "post",
      path: `${PREFIX}/sessions/{id}/messages`,
      summary: "Send a message: run one round",
      description:
        "With `Accept: text/event-stream` the round's events stream as SSE (`id` = the session's event sequence number, " +
        "`event` = the event type, `data` = the event as JSON); the last event is `round-end` or `round-error` and carries " +
        "the round. The round keeps running if the client disconnects: reconnect with `GET .../events` and `Last-Event-ID`. " +
        "Otherwise the answer is the finished round as JSON. One round at a time per session (409).",
      tags: ["rounds"],
      security: secured,
      request: {
        params: SessionIdParamsSchema,
        body: { required: true, content: { "application/json": { schema: MessageRequestSchema } } },
      },
      responses: {
        200: {
          description: "The finished (or failed) round, or its event stream",
          content: {
            "application/json": { schema: RoundSchema },
            "text/event-stream": { schema: EventSchema },
          },
        },
        ...errorResponses(400, 401, 404, 409, 413, 422, 429, 503),
      },
    }),
    async (c) => {
      const record = visibleSession(c, c.req.valid("param").id);
      const body = c.req.valid("json");
      const run = await sessions.startRound(record, body.message, body.files ?? []);
      if (wantsEventStream(c)) {
        return streamSSE(c, async (stream) => {
          const gone = new AbortController();
          stream.onAbort(() => gone.abort());
          await withHeartbeat(stream, heartbeatMs, async () => {
            for await (const item of run.follow(run.startSeq, gone.signal)) await writeEvent(stream, item);
          });
        });
      }
      return c.json(roundJson(await run.done), 200);
    },
  );

  const eventsRoute = createRoute({
    method: "get",
    path: `${PREFIX}/sessions/{id}/events`,
    summary: "Replay the session's events, then follow the running round",
    description:
      "Events with an id greater than `Last-Event-ID` (header) or `after` (query), from the stored event log. With " +
      "`Accept: text/event-stream` the stream then follows the running round, if any, and ends after its last event; " +
      "without a running round it ends after the replay. Without that Accept header the stored events come as JSON.",
    tags: ["rounds"],
    security: secured,
    request: { params: SessionIdParamsSchema, query: EventsQuerySchema },
    responses: {
      200: {
        description: "Events",
        content: {
          "text/event-stream": { schema: EventSchema },
          "application/json": { schema: EventListSchema },
        },
      },
      ...errorResponses(400, 401, 404),
    },
  });
  app.openapi(eventsRoute, (c) => {
    const record = visibleSession(c, c.req.valid("param").id);
    const header = c.req.header("last-event-id");
    if (header !== undefined && !/^\d+$/.test(header.trim())) {
      throw new ApiError(
        400,
        "invalid_last_event_id",
        "Last-Event-ID must be a non-negative integer event id.",
      );
    }
    const after = header !== undefined ? Number(header.trim()) : (c.req.valid("query").after ?? 0);
    if (!wantsEventStream(c)) {
      return c.json(
        { events: store.listEvents(record.id, after).map((item) => ({ id: item.seq, event: item.event })) },
        200,
      );
    }
    return streamSSE(c, async (stream) => {
      const gone = new AbortController();
      stream.onAbort(() => gone.abort());
      let last = after;
      for (const item of store.listEvents(record.id, after)) {
        if (gone.signal.aborted) return;
        await writeEvent(stream, item);
        last = item.seq;
      }
      const run = sessions.activeRun(record.id);
      if (!run) return;
      await withHeartbeat(stream, heartbeatMs, async () => {
        for await (const item of run.follow(last, gone.signal)) await writeEvent(stream, item);
      });
    });
  });

  app.openapi(
    createRoute({
      method: "post",
      path: `${PREFIX}/sessions/{id}/interrupt`,
      summary: "Interrupt the running round (model call and code)",
      tags: ["rounds"],
      security: secured,
      request: { params: SessionIdParamsSchema },
      responses: {
        200: {
          description: "Whether a round was interrupted",
          content: { "application/json": { schema: InterruptResultSchema } },
        },
        ...errorResponses(401, 404),
      },
    }),
    async (c) => {
      const record = visibleSession(c, c.req.valid("param").id);
      return c.json({ interrupted: await sessions.interrupt(record.id) }, 200);
    },
  );

  // --- files ------------------------------------------------------------------------------
  // Multipart bodies are checked by hand (file objects, names before any write); the route is
  // registered for the document only.
  app.openAPIRegistry.registerPath(
    createRoute({
      method: "post",
      path: `${PREFIX}/sessions/{id}/files`,
      summary: "Upload files into the session's working directory",
      description:
        "Multipart form data with one or more fields named `file`. Names must be plain file names.",
      tags: ["files"],
      security: secured,
      request: {
        params: SessionIdParamsSchema,
        body: { required: true, content: { "multipart/form-data": { schema: UploadRequestSchema } } },
      },
      responses: {
        201: { description: "Stored", content: { "application/json": { schema: UploadResultSchema } } },
        ...errorResponses(400, 401, 404, 413, 422),
      },
    }),
  );
  app.post(`${PREFIX}/sessions/:id/files`, async (c) => {
    const record = visibleSession(c, c.req.param("id"));
    if (!(c.req.header("content-type") ?? "").toLowerCase().startsWith("multipart/form-data")) {
      throw new ApiError(
        400,
        "expected_multipart",
        "Upload files as multipart/form-data with fields named `file`.",
      );
    }
    let form: Record<string, unknown>;
    try {
      form = await c.req.parseBody({ all: true });
    } catch (error) {
      if (error instanceof ApiError) throw error;
      throw new ApiError(400, "invalid_multipart", "The multipart body could not be read.", { cause: error });
    }
    const unknownFields = Object.keys(form).filter((key) => key !== "file");
    if (unknownFields.length > 0) {
      throw new ApiError(
        422,
        "validation_failed",
        `Unknown form field(s): ${unknownFields.join(", ")}; send files in fields named \`file\`.`,
        {
          details: unknownFields.map((field) => ({ field, message: "unknown field" })),
        },
      );
    }
    const values = ([] as unknown[]).concat(form.file ?? []);
    if (values.length === 0) {
      throw new ApiError(422, "validation_failed", "No file: send one or more fields named `file`.", {
        details: [{ field: "file", message: "required" }],
      });
    }
    const files = values.map((value, index) => {
      if (!(value instanceof File)) {
        throw new ApiError(
          422,
          "validation_failed",
          `file.${index}: expected a file, got a plain form value.`,
          {
            details: [{ field: `file.${index}`, message: "expected a file" }],
          },
        );
      }
      return { name: checkUploadName(value.name), file: value };
    });
    // Every name is checked before anything is written, so a bad request stores nothing.
    const saved = [];
    for (const { name, file } of files) {
      saved.push(await saveUpload(record.workingDirectory, name, new Uint8Array(await file.arrayBuffer())));
    }
    return c.json({ files: saved }, 201);
  });

  app.openapi(
    createRoute({
      method: "get",
      path: `${PREFIX}/sessions/{id}/files`,
      summary: "List the files of the session's working directory (uploads and artifacts)",
      tags: ["files"],
      security: secured,
      request: { params: SessionIdParamsSchema },
      responses: {
        200: {
          description: "Files, recursively",
          content: { "application/json": { schema: FileListSchema } },
        },
        ...errorResponses(401, 404),
      },
    }),
    async (c) => {
      const record = visibleSession(c, c.req.valid("param").id);
      return c.json({ files: await sessions.listFiles(record) }, 200);
    },
  );

  // Registered as a plain route so `{name}` may contain `/` (artifacts in sub-folders); the
  // OpenAPI document still describes it.
  app.openAPIRegistry.registerPath(
    createRoute({
      method: "get",
      path: `${PREFIX}/sessions/{id}/files/{name}`,
      summary: "Download a file of the working directory, artifacts included",
      tags: ["files"],
      security: secured,
      request: { params: FileParamsSchema },
      responses: {
        200: {
          description: "The file, with a Content-Type from its extension",
          content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } },
        },
        ...errorResponses(400, 401, 404),
      },
    }),
  );
  app.get(`${PREFIX}/sessions/:id/files/:name{.+}`, async (c) => {
    const parsed = FileParamsSchema.safeParse({ id: c.req.param("id"), name: c.req.param("name") });
    if (!parsed.success) throw validationError(parsed.error, "param");
    const record = visibleSession(c, parsed.data.id);
    const file = await sessions.findFile(record, parsed.data.name);
    const contentType = contentTypeFor(parsed.data.name);
    const headers: Record<string, string> = {
      "Content-Type": contentType,
      "Content-Length": String(file.size),
      "Content-Disposition": `inline; filename*=UTF-8''${encodeURIComponent(parsed.data.name.split("/").pop()!)}`,
      "X-Content-Type-Options": "nosniff",
    };
    // Files written by model-generated code must not run scripts in the API's origin.
    if (/html|svg|xml/.test(contentType)) headers["Content-Security-Policy"] = "sandbox";
    const body =
      "path" in file ? (Readable.toWeb(createReadStream(file.path)) as ReadableStream<Uint8Array>) : file.data;
    return new Response(body, { status: 200, headers });
  });

  // --- documentation ----------------------------------------------------------------------
  const documentConfig = {
    openapi: "3.1.0",
    info: {
      title: "TaskWeaver API",
      version,
      description:
        "Sessions with a Python kernel, rounds streamed as server-sent events, files, and history that survives restarts.",
    },
  };
  let cachedDocument: unknown;
  const openApiDocument = () => (cachedDocument ??= app.getOpenAPI31Document(documentConfig));
  app.get(`${PREFIX}/openapi.json`, (c) => c.json(openApiDocument() as object));
  app.get(`${PREFIX}/docs`, (c) => c.html(renderDocsPage(openApiDocument())));

  return Object.assign(app, {
    sessions,
    shutdown: (gracePeriodMs?: number) => sessions.shutdown(gracePeriodMs),
  });
}
