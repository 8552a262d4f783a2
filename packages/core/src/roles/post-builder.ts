import { createAttachment, createPost } from "../memory/factories.js";
import type { IdGenerator } from "../memory/ids.js";
import type { Attachment, AttachmentType, Post } from "../memory/types.js";
import type { TaskWeaverEvent } from "../events/types.js";

type EmitEvent = (event: TaskWeaverEvent) => void;

/**
 * Builds one post while streaming its progress as events: a role calls `status()`,
 * `attachmentDelta()`, `messageDelta()` as things happen, then `end()`.
 */
export class PostBuilder {
  private readonly post: Post;
  private readonly streaming = new Map<AttachmentType, Attachment>();
  private ended = false;

  constructor(
    private readonly emit: EmitEvent,
    private readonly ids: { sessionId: string; roundId: string },
    sendFrom: string,
    private readonly generate: IdGenerator,
  ) {
    this.post = createPost({ send_from: sendFrom, send_to: "Unknown", message: "" }, generate);
    this.emit({ type: "post-start", ...this.ids, postId: this.post.id, role: sendFrom });
  }

  get id(): string {
    return this.post.id;
  }

  get sendFrom(): string {
    return this.post.send_from;
  }

  /** What the role is doing now, e.g. "calling the model". */
  status(status: string): void {
    this.emit({ type: "post-status", ...this.ids, postId: this.post.id, role: this.post.send_from, status });
  }

  setRecipient(sendTo: string): void {
    if (this.post.send_to === sendTo) return;
    this.post.send_to = sendTo;
    this.emit({ type: "post-recipient", ...this.ids, postId: this.post.id, sendTo });
  }

  messageDelta(delta: string): void {
    if (delta === "") return;
    this.post.message += delta;
    this.emit({ type: "post-delta", ...this.ids, postId: this.post.id, delta });
  }

  /** Replaces the message, emitting only what is new when the old text is a prefix. */
  setMessage(message: string): void {
    if (message.startsWith(this.post.message)) {
      this.messageDelta(message.slice(this.post.message.length));
      return;
    }
    this.post.message = "";
    this.messageDelta(message);
  }

  /** Forwards output the running code printed. */
  executionOutput(stream: "stdout" | "stderr", text: string): void {
    this.emit({ type: "execution-output", ...this.ids, postId: this.post.id, stream, text });
  }

  /** Streams a piece of an attachment; the first piece of a type opens it. */
  attachmentDelta(type: AttachmentType, delta: string): void {
    let attachment = this.streaming.get(type);
    if (!attachment) {
      attachment = createAttachment(type, "", undefined, this.generate);
      this.streaming.set(type, attachment);
    }
    attachment.content += delta;
    if (delta === "") return;
    this.emit({
      type: "attachment-delta",
      ...this.ids,
      postId: this.post.id,
      attachmentId: attachment.id,
      attachmentType: type,
      delta,
      done: false,
    });
  }

  /** Closes a streamed attachment (or adds it whole) and appends it to the post. */
  finishAttachment(type: AttachmentType, content?: string, extra?: unknown): Attachment {
    let attachment = this.streaming.get(type);
    if (attachment && content !== undefined && content !== attachment.content) attachment.content = content;
    if (!attachment) attachment = createAttachment(type, content ?? "", undefined, this.generate);
    this.streaming.delete(type);
    if (extra !== undefined) attachment.extra = extra;
    this.post.attachment_list.push(attachment);
    this.emit({
      type: "attachment-delta",
      ...this.ids,
      postId: this.post.id,
      attachmentId: attachment.id,
      attachmentType: type,
      delta: "",
      done: true,
      attachment,
    });
    return attachment;
  }

  /** Adds a complete attachment in one step. */
  addAttachment(type: AttachmentType, content: string, extra?: unknown): Attachment {
    return this.finishAttachment(type, content, extra);
  }

  /** Drops attachments that were opened but never finished (e.g. after a cut-off answer). */
  discardOpenAttachments(): void {
    this.streaming.clear();
  }

  /** The finished post; emits `post-end`. */
  end(): Post {
    if (!this.ended) {
      this.ended = true;
      this.streaming.clear();
      this.emit({ type: "post-end", ...this.ids, post: this.post });
    }
    return this.post;
  }
}
