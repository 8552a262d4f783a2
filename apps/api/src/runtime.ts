import type { AppConfig, CodeExecutor, EventListener, Round } from "@taskweaver/core";

/**
 * The parts of `@taskweaver/core`'s `createTaskWeaver()` result the API uses. Declared
 * structurally so the API can be tested with a small fake, and so a host can hand in any
 * object with this shape (for example one with a custom language model already wired in).
 */
export interface TaskWeaverRuntime {
  readonly config: AppConfig;
  /**
   * Opens a session. The API continues a stored session by passing its id (same working
   * directory), its stored `rounds` (the model's history) and a `note` prepended once to the
   * next user message (the kernel is new: variables are gone, files remain).
   */
  createSession(options?: {
    sessionId?: string;
    rounds?: readonly Round[];
    note?: string;
  }): Promise<RuntimeSession>;
  close(): Promise<void>;
}

/** A file handed to a round: either a path on the host or the bytes themselves. */
export type RuntimeFile = { name: string; path: string } | { name: string; data: Uint8Array };

/** One conversation with its own kernel, as `@taskweaver/core` returns it from `createSession`. */
export interface RuntimeSession {
  readonly id: string;
  /** Host path of the session's working directory. */
  readonly workingDirectory: string;
  /** Role aliases, e.g. `["Planner", "CodeInterpreter"]`. */
  readonly roles: readonly string[];
  /**
   * Runs one round. Resolves with the round (`finished` or `failed`); rejects only on misuse
   * (a round already running, the session stopped).
   */
  sendMessage(
    message: string,
    options?: { onEvent?: EventListener; signal?: AbortSignal; files?: RuntimeFile[] },
  ): Promise<Round>;
  /** Aborts the running round, like Ctrl-C. */
  interrupt(): Promise<void>;
  /** Stops the kernel. */
  stop(): Promise<void>;
  /**
   * The session's executor (its kernel is started when it is not running). The API reads the
   * files of remote kernels through it, since they live on the server, not in `workingDirectory`.
   */
  executor?(): Promise<Pick<CodeExecutor, "listFiles" | "downloadFile">>;
}
