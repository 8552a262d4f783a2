import { OpenAPIHono } from "@hono/zod-openapi";
import { ConfigError } from "@taskweaver/core";
import type { MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { bodyLimit } from "hono/body-limit";
import { except } from "hono/combine";
import { methodNotAllowed } from "hono/method-not-allowed";
import { requestId } from "hono/request-id";
import { ApiError } from "./errors.js";
import { createApprovalRoutes } from "./routes/approval-routes.js";
import { createMcpRoute } from "./mcp/mcp-route.js";
import { createChatRoutes } from "./routes/chat-routes.js";
import { createFileRoutes } from "./routes/file-routes.js";
import { OPEN_PATHS, createMetaRoutes } from "./routes/meta-routes.js";
import { errorResponse, type ApiEnvironment, type RouteContext } from "./routes/route-context.js";
import { createRoundRoutes } from "./routes/round-routes.js";
import { createSessionRoutes } from "./routes/session-routes.js";
import { traceRequests } from "./tracing.js";
import { createSnapshotRoutes } from "./routes/snapshot-routes.js";
import type { SessionHost } from "./session-host.js";
import type { SessionKernels } from "./session-kernels.js";
import { SessionManager, type ApiLimits } from "./session-manager.js";
import { DEFAULT_LIMITS, apiKeysFrom, hashApiKey, instanceIdFrom, limitsFromConfig } from "./settings.js";
import type { SessionStore } from "./store/session-store.js";
import { createWebAssets } from "./web-assets.js";

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
  taskWeaver: SessionHost;
  /** Where sessions, rounds, posts and events are kept (see `createSqliteSessionStore`). */
  store: SessionStore;
  /**
   * Accepted API keys (bearer tokens). With none, every request is allowed and every session
   * visible, which is only safe on a loopback address.
   * @default `TASKWEAVER_API_KEYS` and the config key `api.keys`
   */
  apiKeys?: string[];
  /** @default the `api.*` config keys of `taskWeaver.config` */
  limits?: Partial<ApiLimits>;
  /** Receives one entry per request. @default a line on stderr */
  logRequest?: (entry: RequestLogEntry) => void;
  /** @default process.env, read for `TASKWEAVER_API_KEYS` */
  env?: Record<string, string | undefined>;
  /** Reported by the health route and the OpenAPI document. @default "0.1.0" */
  version?: string;
  /** Interval of the `: keep-alive` comment on quiet event streams. @default 15000 */
  heartbeatMs?: number;
  /**
   * This process's name among the instances sharing the store (round leases, commands).
   * @default `api.instance_id`, else `<hostname>-<pid>-<random>`
   */
  instanceId?: string;
  /** Remote kernels kept with their sessions (see `createRemoteSessionKernels`). @default none */
  kernels?: SessionKernels;
}

/** The Hono app of the API, plus the handle to drain it on shutdown. */
export type ApiApp = OpenAPIHono<ApiEnvironment> & {
  /** The live sessions: used by the server for shutdown, and by tests. */
  readonly sessions: SessionManager;
  /**
   * Refuses new rounds (503), waits for running ones up to the grace period, fails the rest,
   * stops every kernel. The store and the TaskWeaver app stay open: their owner closes them.
   */
  shutdown(gracePeriodMs?: number): Promise<void>;
};

const PREFIX = "/api/v1";
/** RFC 6750 `b64token`, what `hono/bearer-auth` accepts. */
const BEARER_TOKEN = /^[A-Za-z0-9._~+/-]+=*$/;

function defaultLogRequest(entry: RequestLogEntry): void {
  const line = `${new Date().toISOString()} ${entry.requestId} ${entry.method} ${entry.path} ${entry.status} ${entry.durationMs.toFixed(1)}ms`;
  process.stderr.write(
    entry.error
      ? `${line} ${String(entry.error instanceof Error ? (entry.error.stack ?? entry.error) : entry.error)}\n`
      : `${line}\n`,
  );
}

/**
 * Builds the HTTP API over a TaskWeaver app and a session store. Returns the Hono app: serve
 * it with `@hono/node-server` (see `startApiServer`) or call `app.request()` in tests.
 */
export function createApi(dependencies: ApiDependencies): ApiApp {
  const { taskWeaver, store } = dependencies;
  const limits: ApiLimits = {
    ...(taskWeaver.config ? limitsFromConfig(taskWeaver.config) : DEFAULT_LIMITS),
    ...dependencies.limits,
  };
  const apiKeys = dependencies.apiKeys ?? apiKeysFrom(taskWeaver.config, dependencies.env);
  // Before anything is started, so that a bad key leaves nothing running.
  const auth = authentication(apiKeys);
  const logRequest = dependencies.logRequest ?? defaultLogRequest;
  const version = dependencies.version ?? "0.1.0";
  const sessions = new SessionManager({
    taskWeaver,
    store,
    limits,
    instanceId: dependencies.instanceId ?? instanceIdFrom(taskWeaver.config),
    ...(dependencies.kernels ? { kernels: dependencies.kernels } : {}),
    log: (message, error) =>
      logRequest({ requestId: "-", method: "-", path: message, status: 0, durationMs: 0, error }),
  });
  const context: RouteContext = {
    sessions,
    store,
    limits,
    keysConfigured: apiKeys.length > 0,
    heartbeatMs: dependencies.heartbeatMs ?? 15_000,
    version,
  };

  const app = new OpenAPIHono<ApiEnvironment>();
  // Request ids and the request log come first so every answer, errors included, has both.
  app.use("*", traceRequests(), requestId({ limitLength: 128 }), requestLog(logRequest));
  app.use(
    "*",
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) =>
        errorResponse(
          c,
          new ApiError(
            405,
            "method_not_allowed",
            `${c.req.path} does not take ${c.req.method}; it takes ${methods.join(", ")}.`,
            {
              headers: { Allow: methods.join(", ") },
            },
          ),
        ),
    }),
  );
  app.use(`${PREFIX}/*`, bodyLimits(limits));
  app.use(
    `${PREFIX}/*`,
    except(
      OPEN_PATHS.map((path) => PREFIX + path),
      auth,
    ),
  );

  // Reads of stored rounds wait until the rounds of an earlier process are marked failed; the
  // operations that need it report its failure themselves.
  app.use(`${PREFIX}/sessions/*`, async (_c, next) => {
    await sessions.ready.catch(() => undefined);
    await next();
  });
  app.onError((error, c) => errorResponse(c, error));
  app.notFound((c) =>
    errorResponse(c, new ApiError(404, "not_found", `No route for ${c.req.method} ${c.req.path}.`)),
  );

  app.openAPIRegistry.registerComponent("securitySchemes", "apiKey", {
    type: "http",
    scheme: "bearer",
    description:
      "One of the keys in TASKWEAVER_API_KEYS or the config key api.keys. Not needed when no key is configured.",
  });
  let cachedDocument: unknown;
  const document = () =>
    (cachedDocument ??= app.getOpenAPI31Document({
      openapi: "3.1.0",
      info: {
        title: "TaskWeaver API",
        version,
        description:
          "Sessions with a Python kernel, rounds streamed as server-sent events, files, and history that survives restarts.",
      },
    }));
  app.route(PREFIX, createMetaRoutes(context, document));
  app.route(PREFIX, createSessionRoutes(context));
  app.route(PREFIX, createSnapshotRoutes(context));
  app.route(PREFIX, createRoundRoutes(context));
  app.route(PREFIX, createFileRoutes(context));
  app.route(PREFIX, createChatRoutes(context));
  app.route(PREFIX, createApprovalRoutes(context));
  app.route("/", createWebAssets());
  app.route("/mcp", createMcpRoute({ taskWeaver, auth, maxBodyBytes: limits.maxBodyBytes, version }));

  return Object.assign(app, {
    sessions,
    shutdown: (gracePeriodMs?: number) => sessions.shutdown(gracePeriodMs),
  });
}

function requestLog(logRequest: (entry: RequestLogEntry) => void): MiddlewareHandler<ApiEnvironment> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    logRequest({
      requestId: c.get("requestId"),
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      durationMs: performance.now() - started,
      ...(c.error && c.res.status >= 500 ? { error: c.error } : {}),
    });
  };
}

/** JSON bodies and uploads have separate size limits (413). */
function bodyLimits(limits: ApiLimits): MiddlewareHandler<ApiEnvironment> {
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
  // Chat requests carry their files inline (data URLs), so they get the upload limit.
  return (c, next) =>
    c.req.method === "POST" && /\/(files|chat)\/?$/.test(c.req.path)
      ? uploadBodyLimit(c, next)
      : jsonBodyLimit(c, next);
}

/**
 * Bearer keys, compared by their SHA-256 (the store keeps only hashes, and the owner of a
 * session is its key's hash). Without keys every caller is allowed and owns nothing.
 */
function authentication(apiKeys: readonly string[]): MiddlewareHandler<ApiEnvironment> {
  if (apiKeys.length === 0) {
    return async (c, next) => {
      c.set("owner", null);
      await next();
    };
  }
  const unusable = apiKeys.findIndex((key) => !BEARER_TOKEN.test(key));
  if (unusable >= 0) {
    // Such a key could never be sent as a bearer token, so every request with it would be refused.
    throw new ConfigError(
      `API key number ${unusable + 1} (TASKWEAVER_API_KEYS or api.keys) has characters a bearer token cannot carry: ` +
        "use letters, digits and -._~+/ (optionally ending in =).",
    );
  }
  const keyHashes = new Set(apiKeys.map(hashApiKey));
  // Thrown rather than returned so that `app.onError`, the one place for error answers, writes them.
  const refuse = (message: string) => (): never => {
    throw new ApiError(401, "unauthorized", message);
  };
  const keyRequired = refuse("An API key is required: send `Authorization: Bearer <key>`.");
  return bearerAuth({
    verifyToken: (token, c) => {
      const hash = hashApiKey(token);
      if (!keyHashes.has(hash)) return false;
      c.set("owner", hash);
      return true;
    },
    noAuthenticationHeader: { message: keyRequired },
    invalidAuthenticationHeader: { message: keyRequired },
    invalidToken: { message: refuse("The API key is not valid.") },
  });
}
