import type {
  MessageFile,
  SendMessageOptions as CoreSendMessageOptions,
  Session,
  TaskWeaverApp,
} from "@taskweaver/core";

/**
 * The parts of `@taskweaver/core`'s app and session the CLI uses, picked from core's own
 * types so there is one session shape. The renderers and the TUI take these narrow views, so
 * they can be tested with small fakes and the CLI states exactly what it relies on.
 */

/** A file attached to the next message (core's `MessageFile`). */
export type AttachedFile = MessageFile;

/** Options of `sendMessage` (core's `SendMessageOptions`). */
export type SendMessageOptions = Pick<CoreSendMessageOptions, "onEvent" | "signal" | "files" | "approveExecution">;

/**
 * One conversation with its own kernel: `sendMessage`, `interrupt`, `stop`, its id, working
 * directory, role aliases and `lastError` (the error of the last failed round). Saving for
 * experience (`/save`), the plugin statuses and event subscription are optional so a fake may
 * leave them out.
 */
export type ChatSession = Pick<
  Session,
  "id" | "workingDirectory" | "roles" | "sendMessage" | "interrupt" | "stop" | "lastError"
> &
  Partial<Pick<Session, "saveExperience" | "plugins" | "subscribe" | "saveSnapshot" | "stopKernel" | "describeKernel">>;

/** A loaded TaskWeaver app directory: its config, sessions and plugin problems. */
export type ChatApp = Pick<TaskWeaverApp, "config" | "close"> &
  Partial<Pick<TaskWeaverApp, "exampleProblems">> & {
  createSession(options?: { sessionId?: string }): Promise<ChatSession>;
  /** Plugin files that could not be loaded (the other plugins still work). */
  plugins?(): Promise<Pick<Awaited<ReturnType<TaskWeaverApp["plugins"]>>, "problems">>;
};
