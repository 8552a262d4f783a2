import type { AttachmentType, Post, Round, TaskWeaverEvent } from "@taskweaver/core";

/**
 * A view model of rounds built from the event stream. Both frontends (the plain transcript and
 * the Ink TUI) render from it, so a post looks the same while it streams and after it ends.
 * Updates are immutable: every change returns new objects, which React can compare cheaply.
 */

/** One attachment of a post, possibly still streaming. */
export interface BlockView {
  /** The attachment id. */
  readonly key: string;
  readonly type: AttachmentType;
  readonly content: string;
  /** True once the attachment is complete. */
  readonly done: boolean;
}

/** One post between roles, possibly still streaming. */
export interface PostView {
  readonly id: string;
  /** The sending role alias. */
  readonly role: string;
  /** The receiving role alias, once known. */
  readonly recipient: string | undefined;
  /** Attachments in the order they first appeared. */
  readonly blocks: readonly BlockView[];
  /** The message text so far. */
  readonly message: string;
  /** What the role is doing right now ("calling the model", "executing code"). */
  readonly status: string | undefined;
  /** Output printed by running code, before the execution result arrives. */
  readonly liveOutput: string;
  /** True after `post-end`: the view then mirrors the final post exactly. */
  readonly ended: boolean;
}

/** One round: the user's request and the posts that answer it. */
export interface RoundView {
  readonly id: string;
  readonly userQuery: string;
  readonly posts: readonly PostView[];
  readonly state: "running" | "finished" | "failed";
  readonly error: { code: string; message: string } | undefined;
}

/** An empty, running round. */
export function createRoundView(id: string, userQuery: string): RoundView {
  return { id, userQuery, posts: [], state: "running", error: undefined };
}

function createPostView(id: string, role: string): PostView {
  return {
    id,
    role,
    recipient: undefined,
    blocks: [],
    message: "",
    status: undefined,
    liveOutput: "",
    ended: false,
  };
}

/** The view of a finished post, built from the post itself. */
export function postViewFromPost(post: Post): PostView {
  return {
    id: post.id,
    role: post.send_from,
    recipient: post.send_to,
    blocks: post.attachment_list.map((attachment) => ({
      key: attachment.id,
      type: attachment.type,
      content: attachment.content,
      done: true,
    })),
    message: post.message,
    status: undefined,
    liveOutput: "",
    ended: true,
  };
}

/** The view of a finished or failed round, built from the round itself. */
export function roundViewFromRound(round: Round, error?: { code: string; message: string }): RoundView {
  return {
    id: round.id,
    userQuery: round.user_query,
    posts: round.post_list.map(postViewFromPost),
    state: round.state === "failed" || error ? "failed" : "finished",
    error,
  };
}

function updatePost(
  round: RoundView,
  postId: string,
  role: string | undefined,
  update: (post: PostView) => PostView,
) {
  const index = round.posts.findIndex((post) => post.id === postId);
  if (index === -1) {
    // An event may arrive for a post whose post-start we never saw (e.g. a late subscriber).
    const created = update(createPostView(postId, role ?? "Unknown"));
    return { ...round, posts: [...round.posts, created] };
  }
  const posts = round.posts.slice();
  posts[index] = update(posts[index]!);
  return { ...round, posts };
}

/** Applies one event to a round view; events of other rounds are ignored. */
export function applyEvent(round: RoundView, event: TaskWeaverEvent): RoundView {
  if (event.roundId !== round.id) return round;
  switch (event.type) {
    case "round-start":
    case "plugin-status":
    // The TUI asks from its controller (the approval prompt); the decision shows in the post.
    case "execution-approval-request":
    case "execution-approval-result":
      return round;
    case "post-start":
      if (round.posts.some((post) => post.id === event.postId)) return round;
      return { ...round, posts: [...round.posts, createPostView(event.postId, event.role)] };
    case "post-status":
      return updatePost(round, event.postId, event.role, (post) => ({ ...post, status: event.status }));
    case "post-recipient":
      return updatePost(round, event.postId, undefined, (post) => ({ ...post, recipient: event.sendTo }));
    case "post-delta":
      return updatePost(round, event.postId, undefined, (post) => ({
        ...post,
        message: post.message + event.delta,
      }));
    case "attachment-delta":
      return updatePost(round, event.postId, undefined, (post) => {
        const index = post.blocks.findIndex((block) => block.key === event.attachmentId);
        const previous: BlockView =
          index === -1
            ? { key: event.attachmentId, type: event.attachmentType, content: "", done: false }
            : post.blocks[index]!;
        const next: BlockView = {
          ...previous,
          // The complete attachment, when given, is authoritative over the accumulated pieces.
          content: event.done && event.attachment ? event.attachment.content : previous.content + event.delta,
          done: previous.done || event.done,
        };
        const blocks = post.blocks.slice();
        if (index === -1) blocks.push(next);
        else blocks[index] = next;
        return { ...post, blocks };
      });
    case "execution-output":
      return updatePost(round, event.postId, undefined, (post) => ({
        ...post,
        liveOutput: post.liveOutput + event.text,
      }));
    case "post-end": {
      const ended = postViewFromPost(event.post);
      const index = round.posts.findIndex((post) => post.id === event.post.id);
      const posts = round.posts.slice();
      if (index === -1) posts.push(ended);
      else posts[index] = ended;
      return { ...round, posts };
    }
    case "round-end":
      return { ...round, state: event.round.state === "failed" ? "failed" : "finished" };
    case "round-error":
      return { ...round, state: "failed", error: event.error };
  }
}

/** The post currently streaming (the last one not ended), if any. */
export function activePost(round: RoundView): PostView | undefined {
  const last = round.posts.at(-1);
  return last && !last.ended ? last : undefined;
}

/** The final answer to the user, when the round has one. */
export function finalAnswer(round: RoundView): PostView | undefined {
  return round.posts.findLast((post) => post.recipient === "User" && post.role !== "User");
}
