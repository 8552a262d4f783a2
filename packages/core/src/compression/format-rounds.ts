import type { AttachmentType, Round } from "../memory/types.js";
import { cutText } from "../text/cut-text.js";

/** Attachments worth keeping in a summary's source; the rest is bookkeeping or repeats the message. */
const USEFUL_TYPES: readonly AttachmentType[] = [
  "init_plan",
  "plan",
  "current_plan_step",
  "thought",
  "reply_content",
  "function",
  "verification",
  "code_error",
  "execution_status",
  "execution_result",
  "artifact_paths",
  "revise_message",
];

export interface FormatRoundsOptions {
  /** Longest text kept of one attachment or message. @default 1500 */
  maxPartChars?: number;
}

/**
 * Rounds as plain text for a model to read (summaries of history, lessons from a session):
 * each post as `Sender -> Recipient: message` followed by its useful attachments.
 */
export function formatRoundsAsText(rounds: readonly Round[], options: FormatRoundsOptions = {}): string {
  const limit = options.maxPartChars ?? 1500;
  return rounds
    .map((round, index) => {
      const lines = [`## Round ${index + 1}: ${cutText(round.user_query, limit)}`];
      for (const post of round.post_list) {
        lines.push(`${post.send_from} -> ${post.send_to}: ${cutText(post.message, limit)}`);
        for (const attachment of post.attachment_list) {
          if (!USEFUL_TYPES.includes(attachment.type) || attachment.content.trim() === "") continue;
          lines.push(`  [${attachment.type}] ${cutText(attachment.content, limit).replaceAll("\n", "\n    ")}`);
        }
      }
      if (round.state === "failed") lines.push("(this round failed)");
      return lines.join("\n");
    })
    .join("\n\n");
}
