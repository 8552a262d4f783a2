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
export {
  DEFAULT_LIMITS,
  apiKeysFrom,
  databaseUrlFrom,
  hashApiKey,
  instanceIdFrom,
  isLoopbackHost,
  limitsFromConfig,
} from "./settings.js";
export {
  createRemoteSessionKernels,
  type RemoteSessionKernelsOptions,
  type SessionKernels,
} from "./session-kernels.js";
export type {
  AnswerApprovalResult,
  ApprovalAnswer,
  RoundLease,
  SessionKernel,
  SessionRecord,
  SessionStore,
  StoredApproval,
  StoredEvent,
  StoredRound,
} from "./store/session-store.js";
export { createSqliteSessionStore, type SqliteSessionStoreOptions } from "./store/sqlite-session-store.js";
export {
  createPostgresSessionStore,
  type PostgresSessionStoreOptions,
} from "./store/postgres-session-store.js";
export { StoreUnavailableError, maskDatabaseUrl } from "./store/store-errors.js";
export { parseServerSentEvents, type ServerSentEvent } from "./sse-parser.js";
