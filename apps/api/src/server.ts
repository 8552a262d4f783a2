import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { serve } from "@hono/node-server";
import { ConfigError, createTaskWeaver, type ExecutorFactory } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";
import { createApi, type ApiApp, type RequestLogEntry } from "./app.js";
import { limitConcurrentKernelStarts } from "./kernel-start-limit.js";
import type { ApiLimits } from "./session-manager.js";
import { apiKeysFrom, databaseUrlFrom, instanceIdFrom, isLoopbackHost } from "./settings.js";
import type { SessionHost } from "./session-host.js";
import type { SessionStore } from "./store/session-store.js";
import { createSqliteSessionStore } from "./store/sqlite-session-store.js";
import { createPostgresSessionStore } from "./store/postgres-session-store.js";
import { createRemoteSessionKernels, type SessionKernels } from "./session-kernels.js";
import { startApiTelemetry } from "./tracing.js";

/** Options of {@link startApiServer}. */
export interface ApiServerOptions {
  /** App directory (holding `taskweaver_config.json`). @default searched upward from the current directory */
  appDir?: string;
  /** Address to listen on. A non-loopback address needs API keys. @default "127.0.0.1" */
  host?: string;
  /** Port; 0 picks a free one. @default 8000 */
  port?: number;
  /** Highest-priority config values in dotted notation. */
  configOverrides?: Record<string, unknown>;
  /** @default process.env */
  env?: Record<string, string | undefined>;
  /** A ready TaskWeaver app instead of `createTaskWeaver({ appDir, createExecutorFactory })`; the server closes it. */
  taskWeaver?: SessionHost;
  /**
   * A ready store instead of the configured one (PostgreSQL at `api.database_url` or
   * `DATABASE_URL`, else SQLite at `api.database_path`); the server closes it.
   */
  store?: SessionStore;
  /** Schema of the PostgreSQL store (lets test runs share one database). @default `api.database_schema`, else "public" */
  databaseSchema?: string;
  /** @default TASKWEAVER_API_KEYS and `api.keys` */
  apiKeys?: string[];
  /** @default the `api.*` config keys */
  limits?: Partial<ApiLimits>;
  /** @default a line per request on stderr */
  logRequest?: (entry: RequestLogEntry) => void;
}

/** A running API server. */
export interface ApiServer {
  /** Base URL, e.g. `http://127.0.0.1:8000`. */
  readonly url: string;
  readonly port: number;
  readonly app: ApiApp;
  /** The SQLite file, when the store is SQLite at `api.database_path`. */
  readonly databasePath: string | undefined;
  /** This process's name among the instances sharing the database. */
  readonly instanceId: string;
  /**
   * Graceful stop: new rounds get 503, running rounds get the grace period, kernels stop,
   * the HTTP server and the database close. Idempotent.
   */
  close(gracePeriodMs?: number): Promise<void>;
}

/** Loads the app, opens the database and serves the API over HTTP. */
export async function startApiServer(options: ApiServerOptions = {}): Promise<ApiServer> {
  const host = options.host ?? "127.0.0.1";
  const env = options.env ?? process.env;
  // Remote kernels are recorded with their sessions; the store opens once the config is known.
  const opened: { store?: SessionStore; instanceId?: string } = {};
  let kernels: SessionKernels | undefined;
  const taskWeaver =
    options.taskWeaver ??
    (await createTaskWeaver({
      appDir: options.appDir,
      configOverrides: options.configOverrides,
      env,
      // Bursts of new sessions would otherwise start every kernel at once and miss the start timeout.
      createExecutorFactory: (config) => {
        let factory: ExecutorFactory & { startsQuickly?: () => boolean };
        if (config.get("execution_service.kernel_mode") !== "remote") factory = createExecutorFactory(config);
        else {
          const remote = createRemoteSessionKernels({
            config,
            env,
            // Kernels start only once a session exists, after the store opened.
            store: {
              setSessionKernel: (sessionId, kernel) => opened.store!.setSessionKernel(sessionId, kernel),
              getRoundLease: (sessionId) => opened.store!.getRoundLease(sessionId),
            },
            instanceId: () => opened.instanceId ?? "",
          });
          kernels = remote.kernels;
          factory = remote.createExecutor;
        }
        const { startsQuickly } = factory;
        return limitConcurrentKernelStarts(factory, config.get("api.max_concurrent_kernel_starts"), {
          startsQuickly: startsQuickly && (() => startsQuickly.call(factory)),
        });
      },
    }));
  const apiKeys = options.apiKeys ?? apiKeysFrom(taskWeaver.config, env);
  if (apiKeys.length === 0 && !isLoopbackHost(host)) {
    await taskWeaver.close();
    throw new ConfigError(
      `Refusing to listen on ${host} without API keys: anyone who can reach it could run code. ` +
        "Set TASKWEAVER_API_KEYS (comma-separated) or api.keys, or listen on 127.0.0.1.",
    );
  }
  const databaseUrl = options.store ? undefined : databaseUrlFrom(taskWeaver.config, env);
  const databasePath = options.store || databaseUrl ? undefined : taskWeaver.config.get("api.database_path");
  const schema = options.databaseSchema ?? taskWeaver.config.get("api.database_schema")?.trim();
  let store: SessionStore;
  try {
    // An unreachable database rejects with StoreUnavailableError naming the URL, password masked.
    store =
      options.store ??
      (databaseUrl
        ? await createPostgresSessionStore({
            url: databaseUrl,
            ...(schema ? { schema } : {}),
          })
        : createSqliteSessionStore({ path: databasePath! }));
  } catch (error) {
    await taskWeaver.close().catch(() => {});
    throw error;
  }
  opened.store = store;
  let telemetry: Awaited<ReturnType<typeof startApiTelemetry>>;
  try {
    telemetry = await startApiTelemetry(taskWeaver.config, env);
  } catch (error) {
    await taskWeaver.close().catch(() => {});
    await store.close();
    throw error;
  }
  const instanceId = instanceIdFrom(taskWeaver.config);
  opened.instanceId = instanceId;
  const app = createApi({
    taskWeaver,
    store,
    apiKeys,
    limits: options.limits,
    logRequest: options.logRequest,
    env,
    instanceId,
    ...(kernels ? { kernels } : {}),
  });

  await app.sessions.ready;
  const server = await new Promise<Server>((resolve, reject) => {
    const started = serve({ fetch: app.fetch, hostname: host, port: options.port ?? 8000 }, () =>
      resolve(started as Server),
    );
    (started as Server).once("error", reject);
  });
  // Rounds answered as JSON keep a request open for minutes, and a busy server may notice an
  // idle keep-alive socket late: a short keep-alive lets it close a socket on which the client
  // has just sent the next request (ECONNRESET). Outlast common client and proxy idle times.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0;
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(":") ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    app,
    databasePath,
    instanceId,
    close(gracePeriodMs) {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        try {
          await app.shutdown(gracePeriodMs);
        } finally {
          // Event streams end with their rounds; whatever is left is idle keep-alive.
          server.closeIdleConnections();
          const forced = setTimeout(() => server.closeAllConnections(), 2_000);
          await stopped;
          clearTimeout(forced);
          await taskWeaver.close().catch(() => {});
          await store.close();
          // Last, so the spans of the rounds drained above are exported.
          await telemetry.shutdown();
        }
      })();
      return closing;
    },
  };
}
