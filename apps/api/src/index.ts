export { createApi, type ApiApp, type ApiDependencies, type RequestLogEntry } from "./app.js";
export { ApiError, describeError, type ErrorBody, type FieldIssue } from "./errors.js";
export type { HostedSession, HostedSessionOptions, SessionHost } from "./session-host.js";
export { limitConcurrentKernelStarts } from "./kernel-start-limit.js";
export { startApiServer, type ApiServer, type ApiServerOptions } from "./server.js";
export {
  SessionManager,
  type ApiLimits,
  type SessionManagerOptions,
  type SessionView,
} from "./session-manager.js";
export { DEFAULT_LIMITS, apiKeysFrom, hashApiKey, isLoopbackHost, limitsFromConfig } from "./settings.js";
export type { SessionRecord, SessionStore, StoredEvent, StoredRound } from "./store/session-store.js";
export { createSqliteSessionStore, type SqliteSessionStoreOptions } from "./store/sqlite-session-store.js";
export { parseServerSentEvents, type ServerSentEvent } from "./sse-parser.js";
