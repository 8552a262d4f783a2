import type { CreateSessionOptions, Session, TaskWeaverApp } from "@taskweaver/core";

/**
 * One conversation with its own kernel, as `@taskweaver/core`'s `createSession` returns it:
 * the members of core's `Session` the API calls. `sendMessage` resolves with the round
 * (`finished` or `failed`) after emitting `round-start` and then `round-end` or `round-error`;
 * it rejects, before any event, only when the session cannot take a round (one is running, the
 * session was stopped). `executor` and `plugins` are optional so that a host without them (a
 * test double) still fits; the API reads the files of remote kernels through `executor`.
 */
export type HostedSession = Pick<
  Session,
  "id" | "workingDirectory" | "roles" | "sendMessage" | "interrupt" | "stop"
> &
  Partial<Pick<Session, "executor" | "lastError" | "plugins" | "saveSnapshot" | "lastSnapshotSave" | "describeKernel">>;

/** The options of `createSession` the API uses to open or continue a stored session. */
export type HostedSessionOptions = Pick<CreateSessionOptions, "sessionId" | "rounds" | "note" | "restoreSnapshot">;

/**
 * What the API needs of a TaskWeaver app (`createTaskWeaver()` from `@taskweaver/core`): its
 * config, opening sessions, closing. Any object of this shape works, for example an app with
 * a custom language model already wired in, or a small fake in tests.
 */
export type SessionHost = Pick<TaskWeaverApp, "config" | "close"> & {
  /**
   * Opens a session. The API continues a stored session by passing its id (same working
   * directory), its stored `rounds` (the model's history) and a `note` prepended once to the
   * next user message (the kernel is new: variables are gone, files remain).
   */
  createSession(options?: HostedSessionOptions): Promise<HostedSession>;
};
