// What the API's public index re-exports from the store folder. The conformance suite imports
// vitest, so it is reached through its own path, not from here.
export type {
  AnswerApprovalResult,
  ApprovalAnswer,
  StoredApproval,
  RoundFailure,
  RoundLease,
  SessionCommand,
  SessionCommandName,
  SessionKernel,
  SessionRecord,
  SessionStore,
  StoredEvent,
  StoredRound,
  Unsubscribe,
  WaitForEventsOptions,
} from "./session-store.js";
export { createSqliteSessionStore, type SqliteSessionStoreOptions } from "./sqlite-session-store.js";
export { createPostgresSessionStore, type PostgresSessionStoreOptions } from "./postgres-session-store.js";
export { StoreUnavailableError, maskDatabaseUrl } from "./store-errors.js";
