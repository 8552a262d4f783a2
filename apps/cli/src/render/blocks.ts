import type { AttachmentType } from "@taskweaver/core";
import type { BlockView, PostView } from "./conversation.js";

/**
 * What the classic console shows of a post: `>>> [TYPE]` blocks for the attachments, then a
 * `>>> [SENDER->RECIPIENT]` block with the message, or `TaskWeaver: <message>` when the post
 * answers the user. Shared by the transcript (plain text) and the TUI (coloured).
 */

/** Attachment types that are bookkeeping, not content: the console leaves them out. */
const HIDDEN_TYPES: ReadonlySet<AttachmentType> = new Set<AttachmentType>([
  "reply_type",
  "shared_memory_entry",
]);

/** Types whose text only makes sense complete (it is reformatted), so they never stream. */
const ATOMIC_TYPES: ReadonlySet<AttachmentType> = new Set<AttachmentType>(["artifact_paths"]);

/** The role alias the user sees as the sender of final answers. */
export const USER_ALIAS = "User";

/** `CodeInterpreter` -> `CODEINTERPRETER`, the console's spelling of role aliases. */
export function roleLabel(alias: string): string {
  return alias.toUpperCase();
}

/** True when the console shows nothing for this attachment type. */
export function isHiddenType(type: AttachmentType): boolean {
  return HIDDEN_TYPES.has(type);
}

/** True when the block may be shown before it is complete. */
export function canStream(type: AttachmentType): boolean {
  return !ATOMIC_TYPES.has(type);
}

/** The code language of a post, from its `reply_type` attachment (`python` or `text`). */
export function replyTypeOf(post: PostView): { known: boolean; isCode: boolean } {
  const block = post.blocks.find((candidate) => candidate.type === "reply_type");
  if (!block || !block.done) return { known: post.ended, isCode: false };
  return { known: true, isCode: block.content.trim().toLowerCase() === "python" };
}

/**
 * The header name of an attachment block, or `undefined` while it cannot be known yet
 * (code whose `reply_type` has not arrived).
 */
export function blockTitle(block: BlockView, post: PostView): string | undefined {
  switch (block.type) {
    case "reply_content": {
      const replyType = replyTypeOf(post);
      if (!replyType.known) return undefined;
      return replyType.isCode ? "PYTHON" : "TEXT";
    }
    case "execution_status":
      return "STATUS";
    case "execution_result":
      return "RESULT";
    default:
      return block.type.toUpperCase();
  }
}

/** `artifact_paths` holds a JSON list of paths (or one path per line): one path per line. */
export function parseArtifactPaths(content: string): string[] {
  const trimmed = content.trim();
  if (trimmed === "") return [];
  if (trimmed.startsWith("[")) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (Array.isArray(parsed)) {
        return parsed
          .map((item) => {
            if (typeof item === "string") return item;
            if (typeof item === "object" && item !== null && "path" in item) return String(item.path);
            return JSON.stringify(item);
          })
          .filter((item) => item !== "");
      }
    } catch {
      // Not JSON after all: fall through to one path per line.
    }
  }
  return trimmed
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
}

/** The text shown under a block header (complete blocks only need to be well formatted). */
export function blockBody(block: BlockView): string {
  if (block.type === "artifact_paths") return parseArtifactPaths(block.content).join("\n");
  return block.content;
}

/** The header of the message block, e.g. `PLANNER->CODEINTERPRETER`. */
export function messageTitle(post: PostView): string | undefined {
  return post.recipient === undefined ? undefined : `${roleLabel(post.role)}->${roleLabel(post.recipient)}`;
}

/** True when the post is the round's answer to the user. */
export function isAnswerToUser(post: PostView): boolean {
  return post.recipient === USER_ALIAS && post.role !== USER_ALIAS;
}

/** True for the user's own post, which the console already shows as `Human: ...`. */
export function isUserPost(post: PostView): boolean {
  return post.role === USER_ALIAS;
}
