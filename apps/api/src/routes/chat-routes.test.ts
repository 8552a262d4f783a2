import { join } from "node:path";
import {
  parseJsonEventStream,
  readUIMessageStream,
  uiMessageChunkSchema,
  type UIMessage,
  type UIMessageChunk,
} from "ai";
import { afterEach, describe, expect, it } from "vitest";
import { createApi, type ApiApp, type ApiDependencies } from "../app.js";
import { createSqliteSessionStore } from "../store/sqlite-session-store.js";
import { createFakeSessionHost, type FakeSessionHost } from "../testing/fake-session-host.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function setup(options: Partial<ApiDependencies> = {}): { app: ApiApp; host: FakeSessionHost } {
  const host = createFakeSessionHost();
  const store = createSqliteSessionStore({ path: join(host.appDir, "workspace", "taskweaver-api.sqlite") });
  const app = createApi({ apiKeys: [], logRequest: () => {}, ...options, taskWeaver: host, store });
  cleanups.push(() => host.remove());
  cleanups.push(() => store.close());
  cleanups.push(() => app.shutdown(0));
  return { app, host };
}

async function createSession(app: ApiApp, headers: Record<string, string> = {}): Promise<string> {
  const response = await app.request("/api/v1/sessions", { method: "POST", headers });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

const chatBody = (text: string, parts: Record<string, unknown>[] = []) => ({
  id: "chat",
  messages: [{ id: "u1", role: "user", parts: [{ type: "text", text }, ...parts] }],
  trigger: "submit-message",
});

const post = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});

async function readChunks(response: Response): Promise<UIMessageChunk[]> {
  const chunks: UIMessageChunk[] = [];
  const reader = parseJsonEventStream({ stream: response.body!, schema: uiMessageChunkSchema }).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return chunks;
    if (!value.success) throw value.error;
    chunks.push(value.value);
  }
}

describe("the chat routes", () => {
  it("runs the last user message as a round and answers with the UI message stream", async () => {
    const { app, host } = setup();
    const id = await createSession(app);
    const response = await app.request(`/api/v1/sessions/${id}/chat`, post(chatBody("hello")));
    expect(response.status).toBe(200);
    expect(response.headers.get("x-vercel-ai-ui-message-stream")).toBe("v1");
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const chunks = await readChunks(response);
    expect(chunks[0]).toMatchObject({ type: "start" });
    expect(chunks.at(-1)).toEqual({ type: "finish", finishReason: "stop" });
    expect(host.messages.at(-1)).toContain("hello");
    let message: UIMessage | undefined;
    const stream = new ReadableStream<UIMessageChunk>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(chunk);
        controller.close();
      },
    });
    for await (const snapshot of readUIMessageStream({ stream, terminateOnError: true })) message = snapshot;
    expect(message?.parts.some((part) => part.type === "text")).toBe(true);
  });

  it("attaches a data-URL file larger than the JSON body limit but within the upload limit", async () => {
    const { app, host } = setup({ limits: { maxBodyBytes: 2_000 } });
    const id = await createSession(app);
    const csv = "n\n".repeat(2_000);
    const response = await app.request(
      `/api/v1/sessions/${id}/chat`,
      post(
        chatBody("count", [
          {
            type: "file",
            mediaType: "text/csv",
            filename: "big.csv",
            url: `data:text/csv;base64,${Buffer.from(csv).toString("base64")}`,
          },
          { type: "file", mediaType: "text/plain", url: "data:text/plain,hi%20there" },
        ]),
      ),
    );
    expect(response.status).toBe(200);
    await readChunks(response);
    expect(host.messages.at(-1)).toContain("files added: big.csv, attachment-2.txt");
    const file = await app.request(`/api/v1/sessions/${id}/files/attachment-2.txt`);
    expect(await file.text()).toBe("hi there");
  });

  it("attaches a file named by the session's own download URL", async () => {
    const { app, host } = setup();
    const id = await createSession(app);
    const form = new FormData();
    form.append("file", new File(["a,b\n"], "data.csv"));
    expect((await app.request(`/api/v1/sessions/${id}/files`, { method: "POST", body: form })).status).toBe(
      201,
    );
    const url = `http://127.0.0.1:8000/api/v1/sessions/${id}/files/data.csv`;
    const response = await app.request(
      `/api/v1/sessions/${id}/chat`,
      post(chatBody("read it", [{ type: "file", mediaType: "text/csv", url }])),
    );
    expect(response.status).toBe(200);
    await readChunks(response);
    expect(host.messages.at(-1)).toContain("files added: data.csv");
  });

  it.each([
    [
      "no user message",
      { messages: [{ id: "a", role: "assistant", parts: [{ type: "text", text: "hi" }] }] },
      422,
      "validation_failed",
    ],
    ["no text", { messages: [{ id: "u", role: "user", parts: [] }] }, 422, "validation_failed"],
    ["no messages", { messages: [] }, 422, "validation_failed"],
    [
      "a file of another site",
      chatBody("x", [{ type: "file", mediaType: "text/plain", url: "https://example.com/a.txt" }]),
      422,
      "validation_failed",
    ],
    [
      "a file of another session",
      chatBody("x", [{ type: "file", mediaType: "text/plain", url: "/api/v1/sessions/other/files/a.txt" }]),
      422,
      "validation_failed",
    ],
    [
      "a data URL with a path as its name",
      chatBody("x", [
        { type: "file", mediaType: "text/plain", filename: "../a.txt", url: "data:text/plain,x" },
      ]),
      400,
      "invalid_file_name",
    ],
  ])("refuses a request with %s", async (_name, body, status, code) => {
    const { app } = setup();
    const id = await createSession(app);
    const response = await app.request(`/api/v1/sessions/${id}/chat`, post(body));
    expect(response.status).toBe(status);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
  });

  it("refuses a body that is not JSON (415) and a message over the length limit (422)", async () => {
    const { app } = setup({ limits: { maxMessageChars: 10 } });
    const id = await createSession(app);
    const text = await app.request(`/api/v1/sessions/${id}/chat`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "hi",
    });
    expect(text.status).toBe(415);
    const long = await app.request(`/api/v1/sessions/${id}/chat`, post(chatBody("x".repeat(11))));
    expect(long.status).toBe(422);
    expect(((await long.json()) as { error: { code: string } }).error.code).toBe("message_too_long");
  });

  it("needs the API key like every other route", async () => {
    const { app } = setup({ apiKeys: ["secret"] });
    const id = await createSession(app, { authorization: "Bearer secret" });
    expect((await app.request(`/api/v1/sessions/${id}/chat`, post(chatBody("hi")))).status).toBe(401);
    expect((await app.request(`/api/v1/sessions/${id}/chat/c/stream`)).status).toBe(401);
    const answered = await app.request(
      `/api/v1/sessions/${id}/chat`,
      post(chatBody("hi"), { authorization: "Bearer secret" }),
    );
    expect(answered.status).toBe(200);
    await readChunks(answered);
  });

  it("resumes a running round from its start and answers 204 once it has ended", async () => {
    const { app } = setup();
    const id = await createSession(app);
    expect((await app.request(`/api/v1/sessions/${id}/chat/c/stream`)).status).toBe(204);
    const first = await app.request(`/api/v1/sessions/${id}/chat`, post(chatBody("slow")));
    expect(first.status).toBe(200);
    const busy = await app.request(`/api/v1/sessions/${id}/chat`, post(chatBody("again")));
    expect(busy.status).toBe(409);
    const resumed = await app.request(`/api/v1/sessions/${id}/chat/c/stream`);
    expect(resumed.status).toBe(200);
    expect(resumed.headers.get("x-vercel-ai-ui-message-stream")).toBe("v1");
    await first.body?.cancel();
    const reading = readChunks(resumed);
    await app.request(`/api/v1/sessions/${id}/interrupt`, { method: "POST" });
    const chunks = await reading;
    expect(chunks[0]).toMatchObject({ type: "start" });
    expect(chunks.at(-1)).toMatchObject({ type: "abort" });
    expect((await app.request(`/api/v1/sessions/${id}/chat/c/stream`)).status).toBe(204);
  });

  it("resumes from the event log a round that runs on another instance sharing the store", async () => {
    const { app, host } = setup({ instanceId: "one" });
    const store = createSqliteSessionStore({ path: join(host.appDir, "workspace", "taskweaver-api.sqlite") });
    const otherHost = createFakeSessionHost();
    const other = createApi({
      apiKeys: [],
      logRequest: () => {},
      instanceId: "two",
      taskWeaver: otherHost,
      store,
    });
    cleanups.push(() => otherHost.remove());
    cleanups.push(() => store.close());
    cleanups.push(() => other.shutdown(0));
    const id = await createSession(app);
    const first = await app.request(`/api/v1/sessions/${id}/chat`, post(chatBody("slow")));
    expect(first.status).toBe(200);
    const firstChunks = readChunks(first);
    const resumed = await other.request(`/api/v1/sessions/${id}/chat/c/stream`);
    expect(resumed.status).toBe(200);
    const reading = readChunks(resumed);
    await other.request(`/api/v1/sessions/${id}/interrupt`, { method: "POST" });
    const chunks = await reading;
    expect(chunks).toEqual(await firstChunks);
    expect(chunks.at(-1)).toMatchObject({ type: "abort" });
  });
});
