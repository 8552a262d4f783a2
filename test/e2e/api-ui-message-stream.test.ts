// The AI SDK's chat protocol over real HTTP (127.0.0.1, random port): the real core session, the
// real OpenAI client against the fake model, a real Python kernel, and the `ai` package's own
// chat transport and stream reader on the client side.
import { DefaultChatTransport, readUIMessageStream, type UIMessage, type UIMessageChunk } from "ai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiServer } from "@taskweaver/api";
import {
  createTestAppDir,
  plannerAnswer,
  plannerRound,
  pythonAnswer,
  startFakeOpenAIServer,
  startTestApiServer,
  type FakeOpenAIServer,
  type TestAppDir,
} from "../src/index.js";

/** Kernels start slowly on a busy machine; these tests stop by themselves well before. */
const HEAVY_TEST_TIMEOUT = 180_000;

let model: FakeOpenAIServer;
let appDir: TestAppDir;
let server: ApiServer;

beforeAll(async () => {
  model = await startFakeOpenAIServer({ chunkSize: 16 });
  appDir = createTestAppDir({
    config: { "llm.api_base": model.url, "llm.api_key": "test-key", "llm.model": "fake-model" },
  });
  server = await startTestApiServer(appDir.path);
});

afterAll(async () => {
  await server?.close(5_000);
  await model?.close();
  appDir?.remove();
});

const api = (path: string) => `${server.url}/api/v1${path}`;

async function createSession(): Promise<string> {
  const response = await fetch(api("/sessions"), { method: "POST" });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

function userMessage(
  text: string,
  files: { url: string; filename: string; mediaType: string }[] = [],
): UIMessage {
  return {
    id: `user-${Math.random().toString(36).slice(2)}`,
    role: "user",
    parts: [{ type: "text", text }, ...files.map((file) => ({ type: "file" as const, ...file }))],
  };
}

/** The assistant message the AI SDK's reader builds from the whole stream. */
async function readMessage(stream: ReadableStream<UIMessageChunk>): Promise<UIMessage> {
  let message: UIMessage | undefined;
  for await (const snapshot of readUIMessageStream({ stream, terminateOnError: true })) message = snapshot;
  if (!message) throw new Error("the stream held no message");
  return message;
}

/** Tees the chunk stream so a test can watch the chunks while the reader builds the message. */
function watch(
  stream: ReadableStream<UIMessageChunk>,
  seen: UIMessageChunk[],
): ReadableStream<UIMessageChunk> {
  return stream.pipeThrough(
    new TransformStream<UIMessageChunk, UIMessageChunk>({
      transform(chunk, controller) {
        seen.push(chunk);
        controller.enqueue(chunk);
      },
    }),
  );
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("the AI SDK's UI message stream over HTTP with a real kernel", () => {
  it(
    "streams a planner round that useChat's transport and reader turn into reasoning, a python tool call and the answer",
    async () => {
      const id = await createSession();
      model.enqueue(
        ...plannerRound("print('hello from the kernel')\nanswer = 6 * 7\nanswer", "The answer is 42."),
      );

      // The raw answer first: the protocol's header and SSE.
      const transport = new DefaultChatTransport<UIMessage>({ api: api(`/sessions/${id}/chat`) });
      let headers: Headers | undefined;
      const recording = new DefaultChatTransport<UIMessage>({
        api: api(`/sessions/${id}/chat`),
        fetch: async (input, init) => {
          const response = await fetch(input, init);
          headers = response.headers;
          return response;
        },
      });
      const stream = await recording.sendMessages({
        chatId: "chat-1",
        trigger: "submit-message",
        messageId: undefined,
        messages: [userMessage("what is six times seven?")],
        abortSignal: undefined,
      });
      const chunks: UIMessageChunk[] = [];
      const message = await readMessage(watch(stream, chunks));
      expect(headers?.get("x-vercel-ai-ui-message-stream")).toBe("v1");
      expect(headers?.get("content-type")).toContain("text/event-stream");
      expect(model.pendingResponses).toBe(0);

      expect(chunks[0]).toMatchObject({ type: "start" });
      expect(chunks.at(-1)).toEqual({ type: "finish", finishReason: "stop" });
      expect(chunks.some((chunk) => chunk.type === "data-status")).toBe(true);
      // The code streamed as tool input before it was available whole.
      const toolChunks = chunks.filter((chunk) => chunk.type.startsWith("tool-")).map((chunk) => chunk.type);
      expect(toolChunks[0]).toBe("tool-input-start");
      expect(toolChunks.filter((type) => type === "tool-input-delta").length).toBeGreaterThan(1);
      expect(toolChunks.slice(-1)).toEqual(["tool-output-available"]);

      const parts = message.parts.filter((part) => part.type !== "step-start");
      const reasoning = parts.filter((part) => part.type === "reasoning").map((part) => part.text);
      expect(reasoning).toEqual(
        expect.arrayContaining([
          "The request needs code.",
          "1. run code\n2. report to the user",
          "I will run Python.",
        ]),
      );
      const tool = parts.find((part) => part.type === "tool-python");
      expect(tool).toMatchObject({
        state: "output-available",
        input: { code: "print('hello from the kernel')\nanswer = 6 * 7\nanswer" },
      });
      const output = (tool as { output: unknown }).output;
      expect(output).toEqual(expect.stringContaining("hello from the kernel"));
      expect(output).toEqual(expect.stringContaining("42"));
      const texts = parts.filter((part) => part.type === "text").map((part) => part.text);
      expect(texts).toEqual(["The answer is 42."]);
      // The answer comes after the code in the message, as it did in the round.
      expect(parts.findIndex((part) => part.type === "text")).toBeGreaterThan(parts.indexOf(tool!));

      // Nothing runs now: the resume request is answered 204, which the transport reads as "no stream".
      expect(await transport.reconnectToStream({ chatId: "chat-1" })).toBeNull();
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "attaches a data-URL file of the last user message, and a failing run is a tool output error",
    async () => {
      const id = await createSession();
      model.enqueue(
        plannerAnswer("CodeInterpreter", "Count the rows."),
        pythonAnswer("rows = open('numbers.csv').read().splitlines()\nprint(len(rows))\n1 / 0"),
        pythonAnswer("print(len(open('numbers.csv').read().splitlines()))"),
        plannerAnswer("User", "There are 4 lines."),
      );
      const csv = "n\n1\n2\n3\n";
      const transport = new DefaultChatTransport<UIMessage>({ api: api(`/sessions/${id}/chat`) });
      const earlier: UIMessage = { id: "a0", role: "assistant", parts: [{ type: "text", text: "Hello." }] };
      const message = await readMessage(
        await transport.sendMessages({
          chatId: "chat-2",
          trigger: "submit-message",
          messageId: undefined,
          messages: [
            userMessage("hi"),
            earlier,
            userMessage("how many lines has the file?", [
              {
                url: `data:text/csv;base64,${Buffer.from(csv).toString("base64")}`,
                filename: "numbers.csv",
                mediaType: "text/csv",
              },
            ]),
          ],
          abortSignal: undefined,
        }),
      );
      const tools = message.parts.filter((part) => part.type === "tool-python");
      expect(tools).toHaveLength(2);
      expect(tools[0]).toMatchObject({
        state: "output-error",
        errorText: expect.stringContaining("ZeroDivisionError"),
      });
      expect(tools[1]).toMatchObject({ state: "output-available", output: expect.stringContaining("4") });
      expect(message.parts.filter((part) => part.type === "text").map((part) => part.text)).toEqual([
        "There are 4 lines.",
      ]);

      // The round saw only the new message, with the file attached.
      const rounds = (await (await fetch(api(`/sessions/${id}`))).json()) as {
        rounds: { user_query: string }[];
      };
      expect(rounds.rounds).toHaveLength(1);
      expect(rounds.rounds[0]!.user_query).toContain("how many lines has the file?");
      const file = await fetch(api(`/sessions/${id}/files/numbers.csv`));
      expect(await file.text()).toBe(csv);
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "resumes a running round from its start after the client went away, and an interrupted round ends in abort",
    async () => {
      const id = await createSession();
      model.enqueue(
        plannerAnswer("CodeInterpreter", "Please wait."),
        pythonAnswer("import time\nprint('looping', flush=True)\nwhile True:\n    time.sleep(0.05)"),
      );
      const transport = new DefaultChatTransport<UIMessage>({ api: api(`/sessions/${id}/chat`) });
      const first = new AbortController();
      const seen: UIMessageChunk[] = [];
      const stream = await transport.sendMessages({
        chatId: "chat-3",
        trigger: "submit-message",
        messageId: undefined,
        messages: [userMessage("run forever")],
        abortSignal: first.signal,
      });
      const firstReading = readMessage(watch(stream, seen)).catch(() => undefined);
      await waitFor(() => seen.some((chunk) => chunk.type === "tool-input-available"), "the code");
      // The page reloads: the first stream is dropped, the round goes on.
      first.abort();
      await firstReading;

      const resumed = await transport.reconnectToStream({ chatId: "chat-3" });
      expect(resumed).not.toBeNull();
      const resumedChunks: UIMessageChunk[] = [];
      const reading = readMessage(watch(resumed!, resumedChunks));
      await waitFor(
        () =>
          resumedChunks.some(
            (chunk) => chunk.type === "tool-output-available" && String(chunk.output).includes("looping"),
          ),
        "the printed output",
      );
      const interrupt = await fetch(api(`/sessions/${id}/interrupt`), { method: "POST" });
      expect(await interrupt.json()).toEqual({ interrupted: true });
      const message = await reading;

      // Replayed from the round's start: same message id, the plan and the code again.
      expect(resumedChunks[0]).toEqual(seen[0]);
      expect(resumedChunks.at(-1)).toMatchObject({ type: "abort" });
      expect(message.parts.some((part) => part.type === "reasoning")).toBe(true);
      expect(message.parts.find((part) => part.type === "tool-python")).toMatchObject({
        state: "output-error",
        input: { code: expect.stringContaining("while True") },
      });
      expect(model.pendingResponses).toBe(0);
      expect(await transport.reconnectToStream({ chatId: "chat-3" })).toBeNull();
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "gives the artifacts of a run (a matplotlib chart) as file parts that download from the session's file route",
    async () => {
      const id = await createSession();
      model.enqueue(
        ...plannerRound(
          [
            "import matplotlib",
            "matplotlib.use('Agg')",
            "import matplotlib.pyplot as plt",
            "plt.plot([1, 4, 9, 16])",
            "plt.savefig('squares.png')",
            "import pathlib",
            "pathlib.Path('report.txt').write_text('squares: 1 4 9 16\\n')",
            "'saved'",
          ].join("\n"),
          "Here is the chart.",
        ),
      );
      const transport = new DefaultChatTransport<UIMessage>({ api: api(`/sessions/${id}/chat`) });
      const message = await readMessage(
        await transport.sendMessages({
          chatId: "chat-4",
          trigger: "submit-message",
          messageId: undefined,
          messages: [userMessage("plot squares")],
          abortSignal: undefined,
        }),
      );
      // The executor reports the figure it saved as an artifact (files written with open() it does not).
      const files = message.parts.flatMap((part) => (part.type === "file" ? [part] : []));
      expect(files).toHaveLength(1);
      expect(files[0]).toMatchObject({
        mediaType: "image/png",
        url: expect.stringMatching(new RegExp(`^/api/v1/sessions/${id}/files/[^/]+\\.png$`)),
      });
      const png = await fetch(new URL(files.find((file) => file.mediaType === "image/png")!.url, server.url));
      expect(png.status).toBe(200);
      expect([...new Uint8Array(await png.arrayBuffer()).slice(0, 4)]).toEqual([137, 80, 78, 71]);
    },
    HEAVY_TEST_TIMEOUT,
  );

  it("refuses a request without a user message, and keeps sessions behind their id", async () => {
    const id = await createSession();
    const post = (path: string, body: unknown) =>
      fetch(api(path), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const noUser = await post(`/sessions/${id}/chat`, {
      id: "c",
      messages: [{ id: "a", role: "assistant", parts: [{ type: "text", text: "hi" }] }],
    });
    expect(noUser.status).toBe(422);
    const foreignFile = await post(`/sessions/${id}/chat`, {
      id: "c",
      messages: [
        {
          id: "u",
          role: "user",
          parts: [
            { type: "text", text: "hi" },
            { type: "file", mediaType: "text/plain", url: "https://example.com/a.txt" },
          ],
        },
      ],
    });
    expect(foreignFile.status).toBe(422);
    expect((await fetch(api("/sessions/nope/chat/c/stream"))).status).toBe(404);
    expect((await post("/sessions/nope/chat", { messages: [userMessage("hi")] })).status).toBe(404);
  });
});
