import {
  blockBody,
  blockTitle,
  canStream,
  isAnswerToUser,
  isHiddenType,
  isUserPost,
  messageTitle,
} from "./blocks.js";
import type { PostView } from "./conversation.js";

/** Prefix of the console's answer line. */
export const ANSWER_PREFIX = "TaskWeaver: ";

/**
 * The plain-text rendering of a post as far as it is certain. The result only ever grows by
 * appending while the post streams, so a writer can print the difference at every event and,
 * at `post-end`, the text on screen equals the rendering of the finished post.
 *
 * It walks the blocks in order and stops at the first block that is not complete: that block
 * is shown as far as it has arrived (trailing whitespace held back, since the finished block
 * is trimmed), and nothing after it is shown yet.
 */
export function renderPostText(post: PostView): string {
  if (isUserPost(post)) return "";
  let text = "";
  for (const block of post.blocks) {
    if (isHiddenType(block.type)) {
      if (!block.done) return text;
      continue;
    }
    const title = blockTitle(block, post);
    if (title === undefined) return text;
    if (!block.done && !canStream(block.type)) return text;
    text += `>>> [${title}]\n`;
    const body = blockBody(block).trimEnd();
    if (!block.done) return text + body;
    text += body === "" ? "" : `${body}\n`;
  }
  // The message comes after every attachment; while attachments may still arrive it waits.
  const title = messageTitle(post);
  if (title === undefined) return text;
  if (!post.ended && post.message === "") return text;
  // Trimming both ends is stable under appending, so the streamed text stays a prefix.
  const body = post.message.trim();
  if (isAnswerToUser(post)) text += ANSWER_PREFIX + body;
  else text += `>>> [${title}]\n${body}`;
  return post.ended ? `${text}\n` : text;
}

/** The console line of a failed round. */
/** The line that ends a round in the transcript, e.g. `[usage] tokens 1,234 in / 210 out · ...`. */
export function renderUsageLine(summary: string): string {
  return `[usage] ${summary}\n`;
}

export function renderRoundError(message: string): string {
  return `${ANSWER_PREFIX}[error] ${message}\n`;
}
