import type { PluginStatus } from "../executor/contract.js";
import type { Attachment, AttachmentType, Post, Round } from "../memory/types.js";
import type { RoundUsage } from "../usage/round-usage.js";

/**
 * The one stream every frontend renders from (TUI, transcript, SSE). Events are plain,
 * JSON-serialisable objects discriminated by `type`.
 */
export type TaskWeaverEvent =
  | { type: "round-start"; sessionId: string; roundId: string; userQuery: string }
  | { type: "post-start"; sessionId: string; roundId: string; postId: string; role: string }
  /** A human-readable activity of the role: "calling the model", "executing code". */
  | { type: "post-status"; sessionId: string; roundId: string; postId: string; role: string; status: string }
  | { type: "post-recipient"; sessionId: string; roundId: string; postId: string; sendTo: string }
  /** A piece of the post's message text as it streams. */
  | { type: "post-delta"; sessionId: string; roundId: string; postId: string; delta: string }
  /**
   * A piece of an attachment as it streams. `done` marks the last piece; the full attachment
   * comes with it.
   */
  | {
      type: "attachment-delta";
      sessionId: string;
      roundId: string;
      postId: string;
      attachmentId: string;
      attachmentType: AttachmentType;
      delta: string;
      done: boolean;
      attachment?: Attachment;
    }
  | {
      type: "execution-output";
      sessionId: string;
      roundId: string;
      postId: string;
      stream: "stdout" | "stderr";
      text: string;
    }
  | { type: "post-end"; sessionId: string; roundId: string; post: Post }
  /**
   * Code waits for approval before it runs (`code_interpreter.require_confirmation`, or a plugin
   * with `requires_confirmation`). Answered by one `execution-approval-result` with the same id.
   */
  | {
      type: "execution-approval-request";
      sessionId: string;
      roundId: string;
      postId: string;
      approvalId: string;
      code: string;
      /** What code verification found (1-based lines); empty when it found nothing or is off. */
      problems: { line: number; message: string }[];
    }
  /** The decision: `edited` ran `code` instead; `rejected` and `timed_out` ran nothing. */
  | {
      type: "execution-approval-result";
      sessionId: string;
      roundId: string;
      postId: string;
      approvalId: string;
      decision: "approved" | "rejected" | "edited" | "timed_out";
      reason?: string;
      code?: string;
    }
  /**
   * Which plugins are usable in the session's kernel: sent when a kernel has loaded them, and
   * again only when that changes (a restart that loads differently). `roundId` is set when it
   * happens during a round.
   */
  | { type: "plugin-status"; sessionId: string; roundId?: string; plugins: PluginStatus[] }
  /** `usage`: the round's tokens, model calls, model and kernel time, and cost (always set by `Session`). */
  | { type: "round-end"; sessionId: string; roundId: string; round: Round; usage?: RoundUsage }
  | {
      type: "round-error";
      sessionId: string;
      roundId: string;
      error: { code: string; message: string };
      round: Round;
      /** What the round used until it failed (always set by `Session`). */
      usage?: RoundUsage;
    };

export type TaskWeaverEventType = TaskWeaverEvent["type"];

/** Receives events; errors thrown by a listener are ignored so a broken UI cannot break a round. */
export type EventListener = (event: TaskWeaverEvent) => void;
