import { join } from "node:path";
import { AbortedError, type AppConfig, type Post, type Round, type TaskWeaverError, type TaskWeaverEvent } from "@taskweaver/core";
import type { ChatApp, ChatSession, SendMessageOptions } from "../app-types.js";

/**
 * Small in-memory stand-ins for the core's app and session, for unit tests of the renderers
 * and the TUI. A script turns each message into the events a real round would emit.
 */

let counter = 0;
const nextId = (prefix: string) => `${prefix}-${++counter}`;

/** One post of a scripted round. */
export interface ScriptedPost {
  from: string;
  to: string;
  message: string;
  attachments?: { type: Post["attachment_list"][number]["type"]; content: string }[];
}

/** The events of a post, streamed in small pieces the way a real role sends them. */
export function eventsForPost(
  sessionId: string,
  roundId: string,
  scripted: ScriptedPost,
  pieceSize = 7,
): { events: TaskWeaverEvent[]; post: Post } {
  const postId = nextId("post");
  const base = { sessionId, roundId, postId };
  const events: TaskWeaverEvent[] = [{ type: "post-start", ...base, role: scripted.from }];
  const post: Post = {
    id: postId,
    send_from: scripted.from,
    send_to: scripted.to,
    message: scripted.message,
    attachment_list: [],
  };
  events.push({ type: "post-status", ...base, role: scripted.from, status: "calling the model" });
  for (const attachment of scripted.attachments ?? []) {
    const full = { id: nextId("atta"), type: attachment.type, content: attachment.content };
    post.attachment_list.push(full);
    const pieces = split(attachment.content, pieceSize);
    pieces.forEach((piece, index) => {
      const done = index === pieces.length - 1;
      events.push({
        type: "attachment-delta",
        ...base,
        attachmentId: full.id,
        attachmentType: full.type,
        delta: piece,
        done,
        ...(done ? { attachment: full } : {}),
      });
    });
  }
  events.push({ type: "post-recipient", ...base, sendTo: scripted.to });
  for (const piece of split(scripted.message, pieceSize))
    events.push({ type: "post-delta", ...base, delta: piece });
  events.push({ type: "post-end", sessionId, roundId, post });
  return { events, post };
}

function split(text: string, size: number): string[] {
  if (text === "") return [""];
  const pieces: string[] = [];
  for (let index = 0; index < text.length; index += size) pieces.push(text.slice(index, index + size));
  return pieces;
}

/** The events and resulting round of a whole scripted round. */
export function eventsForRound(
  sessionId: string,
  userQuery: string,
  posts: ScriptedPost[],
  failure?: TaskWeaverError,
): { events: TaskWeaverEvent[]; round: Round } {
  const roundId = nextId("round");
  const round: Round = {
    id: roundId,
    user_query: userQuery,
    state: failure ? "failed" : "finished",
    post_list: [],
  };
  const events: TaskWeaverEvent[] = [{ type: "round-start", sessionId, roundId, userQuery }];
  for (const scripted of posts) {
    const result = eventsForPost(sessionId, roundId, scripted);
    events.push(...result.events);
    round.post_list.push(result.post);
  }
  if (failure) {
    events.push({
      type: "round-error",
      sessionId,
      roundId,
      error: { code: failure.code, message: failure.message },
      round,
    });
  }
  else events.push({ type: "round-end", sessionId, roundId, round });
  return { events, round };
}

/** What a fake round does: its posts, and the error that fails it (as the core's `lastError`). */
export interface ReplyScript {
  posts: ScriptedPost[];
  failure?: TaskWeaverError;
  /** Stay running until `interrupt()`, then fail with an `AbortedError`. */
  waitForInterrupt?: boolean;
}

/** A reply script: the posts (and optional failure) answering one message. */
export type Reply = (message: string, options: SendMessageOptions) => ReplyScript | Promise<ReplyScript>;

/** A fake session that replays scripted rounds through `onEvent`. */
export type FakeSession = ChatSession & {
  readonly messages: { message: string; options: SendMessageOptions }[];
  interrupted: number;
  stopped: boolean;
  saved: number;
};

export function createFakeSession(
  reply: Reply,
  options: { id?: string; withSave?: boolean } = {},
): FakeSession {
  let interruptRound: (() => void) | undefined;
  const session: FakeSession = {
    id: options.id ?? nextId("session"),
    workingDirectory: "/tmp/taskweaver-fake/cwd",
    roles: ["Planner", "CodeInterpreter"],
    messages: [],
    interrupted: 0,
    stopped: false,
    saved: 0,
    lastError: undefined,
    async sendMessage(message, sendOptions = {}) {
      session.messages.push({ message, options: sendOptions });
      const script = await reply(message, sendOptions);
      if (script.waitForInterrupt) {
        const roundId = nextId("round");
        const round: Round = { id: roundId, user_query: message, state: "created", post_list: [] };
        sendOptions.onEvent?.({ type: "round-start", sessionId: session.id, roundId, userQuery: message });
        sendOptions.onEvent?.({
          type: "post-start",
          sessionId: session.id,
          roundId,
          postId: "post-wait",
          role: "CodeInterpreter",
        });
        sendOptions.onEvent?.({
          type: "post-status",
          sessionId: session.id,
          roundId,
          postId: "post-wait",
          role: "CodeInterpreter",
          status: "executing code",
        });
        await new Promise<void>((resolve) => {
          interruptRound = resolve;
        });
        round.state = "failed";
        const error = new AbortedError("The round was interrupted.");
        session.lastError = error;
        sendOptions.onEvent?.({
          type: "round-error",
          sessionId: session.id,
          roundId,
          error: { code: error.code, message: error.message },
          round,
        });
        return round;
      }
      // As in the core: lastError is set before the round-error event goes out.
      if (script.failure) session.lastError = script.failure;
      const { events, round } = eventsForRound(session.id, message, script.posts, script.failure);
      for (const event of events) sendOptions.onEvent?.(event);
      return round;
    },
    async interrupt() {
      session.interrupted += 1;
      interruptRound?.();
      interruptRound = undefined;
    },
    async stop() {
      session.stopped = true;
    },
  };
  if (options.withSave) {
    session.saveExperience = async () => {
      session.saved += 1;
      return { path: join(session.workingDirectory, "..", "experience", `raw_exp_${session.id}.yaml`), roundCount: 0 };
    };
  }
  return session;
}

/** A fake app whose sessions all use the same reply script. */
export function createFakeApp(
  reply: Reply,
  options: { withSave?: boolean; config?: Partial<AppConfig> } = {},
): ChatApp & { sessions: FakeSession[]; closed: boolean } {
  const app: ChatApp & { sessions: FakeSession[]; closed: boolean } = {
    sessions: [] as FakeSession[],
    closed: false,
    config: {
      appDir: "/tmp/taskweaver-fake",
      configFile: undefined,
      values: {},
      get: (key: string) => ({ "llm.model": "fake-model", "execution_service.kernel_mode": "local" })[key],
      raw: () => undefined,
      origin: () => ({ kind: "default" }),
      withOverrides(): AppConfig {
        return app.config;
      },
      ...options.config,
    } as unknown as AppConfig,
    async createSession() {
      const session = createFakeSession(reply, { withSave: options.withSave });
      app.sessions.push(session);
      return session;
    },
    async close() {
      app.closed = true;
      for (const session of app.sessions) await session.stop();
    },
  };
  return app;
}

/** A typical successful two-hop round answering "count the rows". */
export const COUNT_ROWS_ROUND: ScriptedPost[] = [
  {
    from: "Planner",
    to: "CodeInterpreter",
    message: "Please load demo_data.csv and count its rows.",
    attachments: [
      {
        type: "init_plan",
        content: "1. load demo_data.csv\n2. count the rows <sequentially depends on 1>\n3. report the count",
      },
      { type: "plan", content: "1. load demo_data.csv and count its rows\n2. report the count" },
      { type: "current_plan_step", content: "1. load demo_data.csv and count its rows" },
      { type: "stop", content: "InProcess" },
    ],
  },
  {
    from: "CodeInterpreter",
    to: "Planner",
    message: "The code ran: df has 100 rows.",
    attachments: [
      { type: "thought", content: "I will read the file with pandas and take its length." },
      { type: "reply_type", content: "python" },
      { type: "reply_content", content: "import pandas as pd\ndf = pd.read_csv('demo_data.csv')\nlen(df)\n" },
      { type: "verification", content: "NONE" },
      { type: "execution_status", content: "SUCCESS" },
      {
        type: "execution_result",
        content:
          "The execution of the generated python code above has succeeded\n\nThe result of above Python code after execution is:\n100",
      },
    ],
  },
  {
    from: "Planner",
    to: "User",
    message: "demo_data.csv has 100 rows.",
    attachments: [
      { type: "plan", content: "1. load demo_data.csv and count its rows\n2. report the count" },
      { type: "current_plan_step", content: "2. report the count" },
      { type: "stop", content: "Completed" },
    ],
  },
];
