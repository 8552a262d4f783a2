import { createId, type IdGenerator } from "./ids.js";
import type { Attachment, AttachmentType, Post, Round } from "./types.js";

export function createAttachment(
  type: AttachmentType,
  content: string,
  extra?: unknown,
  generateId: IdGenerator = createId,
): Attachment {
  return extra === undefined
    ? { id: generateId("atta"), type, content }
    : { id: generateId("atta"), type, content, extra };
}

export function createPost(
  fields: Pick<Post, "send_from" | "send_to" | "message"> & Partial<Pick<Post, "attachment_list" | "id">>,
  generateId: IdGenerator = createId,
): Post {
  return {
    id: fields.id ?? generateId("post"),
    send_from: fields.send_from,
    send_to: fields.send_to,
    message: fields.message,
    attachment_list: fields.attachment_list ?? [],
  };
}

export function createRound(userQuery: string, generateId: IdGenerator = createId): Round {
  return { id: generateId("round"), user_query: userQuery, state: "created", post_list: [] };
}

/** The first attachment of a type, if any. */
export function findAttachment(post: Post, type: AttachmentType): Attachment | undefined {
  return post.attachment_list.find((attachment) => attachment.type === type);
}
