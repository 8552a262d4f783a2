import type { AppConfig, Round, TaskWeaverEvent } from "@taskweaver/core";

/**
 * The parts of `@taskweaver/core`'s app and session the CLI uses. Written structurally so the
 * renderers and the TUI can be tested with small fakes, and so the CLI states exactly what it
 * relies on.
 */

/** A file attached to the next message. */
export type AttachedFile = { name: string; path: string } | { name: string; data: Uint8Array };

/** Options of `sendMessage`. */
export interface SendMessageOptions {
  onEvent?: (event: TaskWeaverEvent) => void;
  signal?: AbortSignal;
  files?: AttachedFile[];
}

/** One conversation with its own kernel. */
export interface ChatSession {
  readonly id: string;
  /** Absolute path of the session's working directory (artifact paths are relative to it). */
  readonly workingDirectory: string | undefined;
  /** Role aliases, e.g. `["Planner", "CodeInterpreter"]`. */
  readonly roles: readonly string[];
  sendMessage(message: string, options?: SendMessageOptions): Promise<Round>;
  /** Aborts the running round (model call and kernel); the session stays usable. */
  interrupt(): Promise<void>;
  stop(): Promise<void>;
  /** Saves the session for experience, when the core supports it. */
  saveExperience?: () => Promise<unknown>;
}

/** A loaded TaskWeaver app directory. */
export interface ChatApp {
  readonly config: AppConfig;
  createSession(options?: { sessionId?: string }): Promise<ChatSession>;
  /** Stops every session and its kernel. */
  close(): Promise<void>;
  /** Plugin files that could not be loaded (the other plugins still work). */
  plugins?(): Promise<{ problems: readonly { file: string; message: string }[] }>;
}
