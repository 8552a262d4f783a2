// Approving code over the HTTP API (127.0.0.1, random port), with the real core session, the real
// OpenAI client against the fake model server and a real Python kernel: the round's SSE stream
// carries the request, the approvals route answers it, and the round waits until it does.
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  DefaultChatTransport,
  lastAssistantMessageIsCompleteWithApprovalResponses,
  readUIMessageStream,
  type UIMessage,
  type UIMessageChunk,
} from "ai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseServerSentEvents, type ApiServer, type ServerSentEvent } from "@taskweaver/api";
import type { Post, Round, TaskWeaverEvent } from "@taskweaver/core";
import {
  createTestAppDir,
  pythonAnswer,
  startFakeOpenAIServer,
  startTestApiServer,
  type FakeOpenAIServer,
  type TestAppDir,
} from "../src/index.js";

const HEAVY_TEST_TIMEOUT = 180_000;
const KEY_A = { authorization: "Bearer key-a" };
const KEY_B = { authorization: "Bearer key-b" };

let model: FakeOpenAIServer;
let appDir: TestAppDir;
let server: ApiServer;

beforeAll(async () => {
  model = await startFakeOpenAIServer({ chunkSize: 16 });
  appDir = createTestAppDir({
    config: {
      "llm.api_base": model.url,
      "llm.api_key": "test-key",
      "llm.model": "fake-model",
      "session.roles": ["code_interpreter"],
      "code_interpreter.require_confirmation": true,
    },
  });
  server = await startTestApiServer(appDir.path, { apiKeys: ["key-a", "key-b"] });
});

afterAll(async () => {
  await server?.close(5_000);
  await model?.close();
  appDir?.remove();
});

const api = (path: string) => `${server.url}/api/v1${path}`;
const textAnswer = (content: string) =>
  JSON.stringify({ response: { thought: "Answer in words.", reply_type: "text", reply_content: content } });

async function createSession(headers = KEY_A): Promise<{ id: string; workingDirectory: string }> {
  const response = await fetch(api("/sessions"), { method: "POST", headers });
  expect(response.status).toBe(201);
  const id = ((await response.json()) as { id: string }).id;
  return { id, workingDirectory: join(appDir.path, "workspace", "sessions", id, "cwd") };
}

function answer(id: string, approvalId: string, body: unknown, headers = KEY_A): Promise<Response> {
  return fetch(api(`/sessions/${id}/approvals/${encodeURIComponent(approvalId)}`), {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** The round's SSE events as they arrive; `next(type)` waits for the next event of that type. */
function followRound(response: Response) {
  const events: TaskWeaverEvent[] = [];
  const waiters: (() => void)[] = [];
  const ended = (async () => {
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end + 2);
        buffer = buffer.slice(end + 2);
        for (const event of parseServerSentEvents(block) as ServerSentEvent[]) {
          events.push(JSON.parse(event.data) as TaskWeaverEvent);
          for (const wake of waiters.splice(0)) wake();
        }
      }
    }
  })();
  const next = async <T extends TaskWeaverEvent["type"]>(type: T, after = 0) => {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const found = events.slice(after).find((event) => event.type === type);
      if (found) return found as Extract<TaskWeaverEvent, { type: T }>;
      if (Date.now() > deadline)
        throw new Error(`no ${type} event came; got ${events.map((event) => event.type).join(", ")}`);
      await Promise.race([
        new Promise<void>((resolve) => waiters.push(resolve)),
        new Promise((resolve) => setTimeout(resolve, 500)),
      ]);
    }
  };
  return { events, next, ended };
}

async function sendStreaming(id: string, message: string) {
  const response = await fetch(api(`/sessions/${id}/messages`), {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream", ...KEY_A },
    body: JSON.stringify({ message }),
  });
  expect(response.status).toBe(200);
  return followRound(response);
}

function attachment(post: Post, type: string): string | undefined {
  return post.attachment_list.find((item) => item.type === type)?.content;
}

describe("approving code over the HTTP API with a real kernel", () => {
  it(
    "streams the request, waits for the answer, runs the code once approved and refuses a second answer",
    async () => {
      const { id } = await createSession();
      model.enqueue(pythonAnswer("print(6 * 7)"));
      const round = await sendStreaming(id, "what is 6 * 7?");
      const request = await round.next("execution-approval-request");
      expect(request).toMatchObject({ code: "print(6 * 7)", problems: [] });

      // The round waits: no output, no end, while nobody answers.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(
        round.events.some((event) => event.type === "execution-output" || event.type === "round-end"),
      ).toBe(false);
      const session = (await (await fetch(api(`/sessions/${id}`), { headers: KEY_A })).json()) as {
        state: string;
      };
      expect(session.state).toBe("running");

      // A bad body, someone else's session and an unknown id leave it waiting.
      expect((await answer(id, request.approvalId, { decision: "maybe" })).status).toBe(422);
      expect((await answer(id, request.approvalId, { decision: "reject", code: "print(1)" })).status).toBe(
        422,
      );
      expect((await answer(id, request.approvalId, { decision: "approve", extra: 1 })).status).toBe(422);
      expect((await answer(id, request.approvalId, "{not json")).status).toBe(400);
      const foreign = await answer(id, request.approvalId, { decision: "approve" }, KEY_B);
      expect(foreign.status).toBe(404);
      expect(((await foreign.json()) as { error: { code: string } }).error.code).toBe("not_found");
      expect((await answer(id, "approval-unknown", { decision: "approve" })).status).toBe(404);

      const approved = await answer(id, request.approvalId, { decision: "approve" });
      expect(approved.status).toBe(200);
      expect(await approved.json()).toEqual({
        approval_id: request.approvalId,
        decision: "approve",
        edited: false,
      });

      const end = await round.next("round-end");
      await round.ended;
      expect(round.events.find((event) => event.type === "execution-approval-result")).toMatchObject({
        approvalId: request.approvalId,
        decision: "approved",
      });
      const post = end.round.post_list[1]!;
      expect(attachment(post, "execution_status")).toBe("SUCCESS");
      expect(attachment(post, "execution_result")).toContain("42");

      const again = await answer(id, request.approvalId, { decision: "reject" });
      expect(again.status).toBe(409);
      expect(((await again.json()) as { error: { code: string } }).error.code).toBe("approval_answered");

      // The request and its result are in the stored event log like every other event.
      const stored = (await (await fetch(api(`/sessions/${id}/events`), { headers: KEY_A })).json()) as {
        events: { event: TaskWeaverEvent }[];
      };
      expect(stored.events.map((item) => item.event.type)).toEqual(
        expect.arrayContaining(["execution-approval-request", "execution-approval-result"]),
      );
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "runs an edited version when the answer carries code, and the post records what ran",
    async () => {
      const { id } = await createSession();
      model.enqueue(pythonAnswer("print(6 * 7)"));
      const round = await sendStreaming(id, "what is 6 * 7?");
      const request = await round.next("execution-approval-request");
      const edited = await answer(id, request.approvalId, { decision: "approve", code: "print(6 * 7000)" });
      expect(edited.status).toBe(200);
      expect(await edited.json()).toMatchObject({ edited: true });
      const end = await round.next("round-end");
      const post = (end.round as Round).post_list[1]!;
      expect(attachment(post, "reply_content")).toBe("print(6 * 7000)");
      expect(attachment(post, "execution_result")).toContain("42000");
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "runs nothing on a rejection and the model's next request carries the decline",
    async () => {
      const { id, workingDirectory } = await createSession();
      model.enqueue(
        pythonAnswer("open('marker.txt', 'w').write('x')"),
        textAnswer("Understood, I will not write it."),
      );
      const before = model.chatRequests.length;
      const round = await sendStreaming(id, "write a marker file");
      const request = await round.next("execution-approval-request");
      const rejected = await answer(id, request.approvalId, { decision: "reject", reason: "not your file" });
      expect(rejected.status).toBe(200);
      const end = await round.next("round-end");
      expect(end.round.post_list.at(-1)?.message).toBe("Understood, I will not write it.");
      expect(round.events.find((event) => event.type === "execution-approval-result")).toMatchObject({
        decision: "rejected",
        reason: "not your file",
      });
      expect(JSON.stringify(model.chatRequests[before + 1]?.body)).toContain(
        "The user declined to run this code. Their reason: not your file",
      );
      expect(existsSync(workingDirectory)).toBe(true);
      expect(existsSync(join(workingDirectory, "marker.txt"))).toBe(false);
      expect((await answer(id, request.approvalId, { decision: "approve" })).status).toBe(409);
    },
    HEAVY_TEST_TIMEOUT,
  );
});

/** The assistant message the AI SDK's reader builds from a stream, continuing `message` when given. */
async function readMessage(
  stream: ReadableStream<UIMessageChunk>,
  chunks: UIMessageChunk[],
  message?: UIMessage,
): Promise<UIMessage> {
  let last: UIMessage | undefined;
  const watched = stream.pipeThrough(
    new TransformStream<UIMessageChunk, UIMessageChunk>({
      transform(chunk, controller) {
        chunks.push(chunk);
        controller.enqueue(chunk);
      },
    }),
  );
  for await (const snapshot of readUIMessageStream({
    stream: watched,
    terminateOnError: true,
    ...(message ? { message } : {}),
  }))
    last = snapshot;
  if (!last) throw new Error("the stream held no message");
  return last;
}

type ToolPart = Extract<UIMessage["parts"][number], { type: `tool-${string}` }>;
const pythonPart = (message: UIMessage) =>
  message.parts.find((part): part is ToolPart => part.type === "tool-python");

/** What `useChat`'s `addToolApprovalResponse` does to the message before it sends the chat again. */
function respond(message: UIMessage, approvalId: string, approved: boolean, reason?: string): UIMessage {
  return {
    ...message,
    parts: message.parts.map((part) =>
      part.type === "tool-python" && part.state === "approval-requested" && part.approval.id === approvalId
        ? {
            ...part,
            state: "approval-responded" as const,
            approval: { ...part.approval, id: approvalId, approved, ...(reason ? { reason } : {}) },
          }
        : part,
    ),
  } as UIMessage;
}

describe("approving code through the AI SDK's tool approval", () => {
  const user = (text: string): UIMessage => ({
    id: `user-${Math.random().toString(36).slice(2)}`,
    role: "user",
    parts: [{ type: "text", text }],
  });

  it(
    "ends the stream at an approval-requested python part, and the approval-responded request continues it to the answer",
    async () => {
      const { id } = await createSession();
      const transport = new DefaultChatTransport<UIMessage>({
        api: api(`/sessions/${id}/chat`),
        headers: KEY_A,
      });
      model.enqueue(pythonAnswer("print(6 * 7)"));
      const question = user("what is 6 * 7?");
      const firstChunks: UIMessageChunk[] = [];
      const first = await readMessage(
        await transport.sendMessages({
          chatId: "chat-1",
          trigger: "submit-message",
          messageId: undefined,
          messages: [question],
          abortSignal: undefined,
        }),
        firstChunks,
      );
      expect(firstChunks.at(-1)).toEqual({ type: "finish", finishReason: "tool-calls" });
      const requested = pythonPart(first);
      expect(requested).toMatchObject({ state: "approval-requested", input: { code: "print(6 * 7)" } });
      if (requested?.state !== "approval-requested") throw new Error("unreachable");
      // The round waits on the server meanwhile.
      const waiting = (await (await fetch(api(`/sessions/${id}`), { headers: KEY_A })).json()) as {
        state: string;
      };
      expect(waiting.state).toBe("running");

      const answered = respond(first, requested.approval.id, true);
      expect(lastAssistantMessageIsCompleteWithApprovalResponses({ messages: [question, answered] })).toBe(
        true,
      );
      const restChunks: UIMessageChunk[] = [];
      const final = await readMessage(
        await transport.sendMessages({
          chatId: "chat-1",
          trigger: "submit-message",
          messageId: answered.id,
          messages: [question, answered],
          abortSignal: undefined,
        }),
        restChunks,
        answered,
      );
      expect(restChunks[0]).toMatchObject({ type: "start", messageId: first.id });
      expect(restChunks.at(-1)).toEqual({ type: "finish", finishReason: "stop" });
      expect(final.id).toBe(first.id);
      const ran = pythonPart(final);
      expect(ran).toMatchObject({
        state: "output-available",
        approval: { id: requested.approval.id, approved: true },
      });
      expect(String(ran?.output)).toContain("42");
      expect(final.parts.filter((part) => part.type === "tool-python")).toHaveLength(1);
      // Once continued, useChat does not send it again.
      expect(lastAssistantMessageIsCompleteWithApprovalResponses({ messages: [question, final] })).toBe(
        false,
      );
      // The approval was answered by the chat request: the REST route refuses another answer.
      expect((await answer(id, requested.approval.id, { decision: "reject" })).status).toBe(409);
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "runs an edited version answered through the approvals route, then continued by the approval-responded request",
    async () => {
      const { id } = await createSession();
      const transport = new DefaultChatTransport<UIMessage>({
        api: api(`/sessions/${id}/chat`),
        headers: KEY_A,
      });
      model.enqueue(pythonAnswer("print(6 * 7)"));
      const question = user("what is 6 * 7?");
      const first = await readMessage(
        await transport.sendMessages({
          chatId: "e",
          trigger: "submit-message",
          messageId: undefined,
          messages: [question],
          abortSignal: undefined,
        }),
        [],
      );
      const requested = pythonPart(first);
      if (requested?.state !== "approval-requested")
        throw new Error(`expected an approval request, got ${JSON.stringify(first.parts)}`);
      // What a web page's Edit button does: the edited code through the REST route, then the SDK's answer.
      expect(
        (await answer(id, requested.approval.id, { decision: "approve", code: "print(6 * 7000)" })).status,
      ).toBe(200);
      const answered = respond(first, requested.approval.id, true);
      const final = await readMessage(
        await transport.sendMessages({
          chatId: "e",
          trigger: "submit-message",
          messageId: answered.id,
          messages: [question, answered],
          abortSignal: undefined,
        }),
        [],
        answered,
      );
      const ran = pythonPart(final);
      expect(ran).toMatchObject({ state: "output-available", input: { code: "print(6 * 7000)" } });
      expect(final.parts.filter((part) => part.type === "tool-python")).toHaveLength(1);
      expect(String(ran?.output)).toContain("42000");
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "denies the call on a rejection, and the model's answer after the decline ends the message",
    async () => {
      const { id } = await createSession();
      const transport = new DefaultChatTransport<UIMessage>({
        api: api(`/sessions/${id}/chat`),
        headers: KEY_A,
      });
      model.enqueue(
        pythonAnswer("open('marker.txt', 'w').write('x')"),
        textAnswer("Understood, I will not write it."),
      );
      const question = user("write a marker file");
      const first = await readMessage(
        await transport.sendMessages({
          chatId: "c",
          trigger: "submit-message",
          messageId: undefined,
          messages: [question],
          abortSignal: undefined,
        }),
        [],
      );
      const requested = pythonPart(first);
      if (requested?.state !== "approval-requested")
        throw new Error(`expected an approval request, got ${JSON.stringify(first.parts)}`);
      const before = model.chatRequests.length;
      const answered = respond(first, requested.approval.id, false, "not your file");
      const final = await readMessage(
        await transport.sendMessages({
          chatId: "c",
          trigger: "submit-message",
          messageId: answered.id,
          messages: [question, answered],
          abortSignal: undefined,
        }),
        [],
        answered,
      );
      expect(pythonPart(final)).toMatchObject({
        state: "output-denied",
        approval: { approved: false, reason: "not your file" },
      });
      expect(JSON.stringify(model.chatRequests[before]?.body)).toContain("Their reason: not your file");
      const texts = final.parts.filter((part) => part.type === "text").map((part) => part.text);
      expect(texts.join("")).toContain("Understood, I will not write it.");

      // An approval id the session never asked for is not found.
      const unknown = respond(first, requested.approval.id, true);
      const part = pythonPart(unknown) as ToolPart & { approval: { id: string } };
      part.approval.id = "approval-unknown";
      const refused = await fetch(api(`/sessions/${id}/chat`), {
        method: "POST",
        headers: { "content-type": "application/json", ...KEY_A },
        body: JSON.stringify({
          id: "c",
          trigger: "submit-message",
          messageId: unknown.id,
          messages: [question, unknown],
        }),
      });
      expect(refused.status).toBe(404);
    },
    HEAVY_TEST_TIMEOUT,
  );
});

describe("waiting for approval over the HTTP API ends", () => {
  it(
    "on confirmation_timeout (the code is not run) and on an interrupt; a late answer is refused",
    async () => {
      const dir = createTestAppDir({
        config: {
          "llm.api_base": model.url,
          "llm.api_key": "test-key",
          "llm.model": "fake-model",
          "session.roles": ["code_interpreter"],
          "code_interpreter.require_confirmation": true,
          "code_interpreter.confirmation_timeout": 1,
          "code_interpreter.max_retry_count": 0,
        },
      });
      const quick = await startTestApiServer(dir.path);
      try {
        const base = `${quick.url}/api/v1`;
        const id = ((await (await fetch(`${base}/sessions`, { method: "POST" })).json()) as { id: string })
          .id;
        const send = async (message: string) => {
          const response = await fetch(`${base}/sessions/${id}/messages`, {
            method: "POST",
            headers: { "content-type": "application/json", accept: "text/event-stream" },
            body: JSON.stringify({ message }),
          });
          expect(response.status).toBe(200);
          return followRound(response);
        };
        const late = (approvalId: string) =>
          fetch(`${base}/sessions/${id}/approvals/${approvalId}`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ decision: "approve" }),
          });

        model.enqueue(pythonAnswer("print('late')"));
        const timedOut = await send("print late");
        const request = await timedOut.next("execution-approval-request");
        const result = await timedOut.next("execution-approval-result");
        expect(result).toMatchObject({ approvalId: request.approvalId, decision: "timed_out" });
        await timedOut.next("round-end");
        const refused = await late(request.approvalId);
        expect(refused.status).toBe(409);
        expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("approval_closed");

        model.enqueue(pythonAnswer("print('stopped')"));
        const interrupted = await send("print stopped");
        const second = await interrupted.next("execution-approval-request");
        const stop = await fetch(`${base}/sessions/${id}/interrupt`, { method: "POST" });
        expect(await stop.json()).toEqual({ interrupted: true });
        const error = await interrupted.next("round-error");
        expect(error.error.code).toBe("aborted");
        expect((await late(second.approvalId)).status).toBe(409);
      } finally {
        await quick.close(5_000);
        dir.remove();
      }
    },
    HEAVY_TEST_TIMEOUT,
  );
});
