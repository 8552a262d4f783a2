/* eslint-disable @typescript-eslint/no-explicit-any -- these tests poke at raw wire JSON; typing every OpenAI shape here would add noise, not safety */
import { afterEach, describe, expect, it } from "vitest";
import { startFakeOpenAIServer, type FakeOpenAIServer } from "./fake-openai-server.js";

let server: FakeOpenAIServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer sk-test", ...headers },
    body: JSON.stringify(body),
  });
}

/** Parses an SSE body into its `data:` payloads, in order. */
function sseData(text: string): string[] {
  return text
    .split("\n\n")
    .map((frame) => frame.trim())
    .filter((frame) => frame.startsWith("data: "))
    .map((frame) => frame.slice("data: ".length));
}

const chatBody = { model: "gpt-test", messages: [{ role: "user", content: "hello" }] };

describe("startFakeOpenAIServer", () => {
  it("listens on 127.0.0.1 with a random port and exposes the /v1 base URL", async () => {
    server = await startFakeOpenAIServer();
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/v1`);
    expect(server.origin).toBe(`http://127.0.0.1:${server.port}`);
  });

  it("answers a non-streaming chat completion with a chat.completion object and usage", async () => {
    server = await startFakeOpenAIServer({ responses: ["Hi there"] });
    const response = await postJson(`${server.url}/chat/completions`, chatBody);
    expect(response.status).toBe(200);
    const completion = (await response.json()) as Record<string, any>;
    expect(completion.object).toBe("chat.completion");
    expect(completion.model).toBe("gpt-test");
    expect(completion.choices[0].message).toMatchObject({ role: "assistant", content: "Hi there" });
    expect(completion.choices[0].finish_reason).toBe("stop");
    expect(completion.usage.total_tokens).toBe(
      completion.usage.prompt_tokens + completion.usage.completion_tokens,
    );
    expect(completion.usage.completion_tokens).toBeGreaterThan(0);
  });

  it("uses scripted answers in FIFO order, then the handler, then fails loudly with 500", async () => {
    server = await startFakeOpenAIServer({
      responses: ["first"],
      handler: (request) =>
        (request.body as { messages: { content: string }[] }).messages[0]!.content === "use handler"
          ? "from handler"
          : { status: 418 },
    });
    server.enqueue("second");
    const contents: string[] = [];
    for (const _ of [1, 2]) {
      const completion = (await (await postJson(`${server.url}/chat/completions`, chatBody)).json()) as any;
      contents.push(completion.choices[0].message.content);
    }
    expect(contents).toEqual(["first", "second"]);
    const fromHandler = (await (
      await postJson(`${server.url}/chat/completions`, {
        ...chatBody,
        messages: [{ role: "user", content: "use handler" }],
      })
    ).json()) as any;
    expect(fromHandler.choices[0].message.content).toBe("from handler");

    await server.close();
    server = await startFakeOpenAIServer();
    const empty = await postJson(`${server.url}/chat/completions`, chatBody);
    expect(empty.status).toBe(500);
    expect(((await empty.json()) as any).error.message).toContain("fake server: no scripted response left");
  });

  it("streams role, content pieces of chunkSize, finish reason, usage and [DONE] as SSE", async () => {
    server = await startFakeOpenAIServer({ responses: [{ content: "abcdefghij", chunkSize: 4 }] });
    const response = await postJson(`${server.url}/chat/completions`, {
      ...chatBody,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const payloads = sseData(await response.text());
    expect(payloads.at(-1)).toBe("[DONE]");
    const chunks = payloads.slice(0, -1).map((payload) => JSON.parse(payload) as any);
    expect(chunks.every((chunk) => chunk.object === "chat.completion.chunk")).toBe(true);
    expect(chunks[0].choices[0].delta.role).toBe("assistant");
    const pieces = chunks.flatMap((chunk) =>
      chunk.choices[0]?.delta.content ? [chunk.choices[0].delta.content] : [],
    );
    expect(pieces).toEqual(["abcd", "efgh", "ij"]);
    expect(chunks.at(-2).choices[0].finish_reason).toBe("stop");
    expect(chunks.at(-1).choices).toEqual([]);
    expect(chunks.at(-1).usage.total_tokens).toBeGreaterThan(0);
  });

  it("sends no usage chunk when stream_options.include_usage is not set", async () => {
    server = await startFakeOpenAIServer({ responses: ["abc"] });
    const payloads = sseData(
      await (await postJson(`${server.url}/chat/completions`, { ...chatBody, stream: true })).text(),
    );
    const chunks = payloads.slice(0, -1).map((payload) => JSON.parse(payload) as any);
    expect(chunks.some((chunk) => chunk.usage)).toBe(false);
    expect(chunks.at(-1).choices[0].finish_reason).toBe("stop");
  });

  it("streams tool calls with index, id, name, then the arguments in pieces", async () => {
    server = await startFakeOpenAIServer({
      responses: [
        {
          toolCalls: [
            { name: "lookup", arguments: { city: "Paris" } },
            { name: "noop", arguments: "{}" },
          ],
          chunkSize: 5,
        },
      ],
    });
    const payloads = sseData(
      await (await postJson(`${server.url}/chat/completions`, { ...chatBody, stream: true })).text(),
    );
    const deltas = payloads.slice(0, -1).map((payload) => (JSON.parse(payload) as any).choices[0]);
    const toolDeltas = deltas.flatMap((choice) => choice.delta.tool_calls ?? []);
    expect(toolDeltas[0]).toMatchObject({
      index: 0,
      type: "function",
      function: { name: "lookup", arguments: "" },
    });
    expect(typeof toolDeltas[0].id).toBe("string");
    const firstArguments = toolDeltas
      .filter((delta: any) => delta.index === 0)
      .map((delta: any) => delta.function.arguments)
      .join("");
    expect(JSON.parse(firstArguments)).toEqual({ city: "Paris" });
    expect(toolDeltas.filter((delta: any) => delta.index === 0).length).toBeGreaterThan(2);
    expect(toolDeltas.find((delta: any) => delta.index === 1)).toMatchObject({ function: { name: "noop" } });
    expect(deltas.at(-1).finish_reason).toBe("tool_calls");
  });

  it("returns tool calls in a non-streaming completion", async () => {
    server = await startFakeOpenAIServer({
      responses: [{ toolCalls: [{ name: "lookup", arguments: { q: 1 }, id: "call_x" }] }],
    });
    const completion = (await (await postJson(`${server.url}/chat/completions`, chatBody)).json()) as any;
    expect(completion.choices[0].message.content).toBeNull();
    expect(completion.choices[0].message.tool_calls).toEqual([
      { id: "call_x", type: "function", function: { name: "lookup", arguments: '{"q":1}' } },
    ]);
    expect(completion.choices[0].finish_reason).toBe("tool_calls");
  });

  it("spaces streamed chunks by chunkDelayMs so a client sees the first piece early", async () => {
    server = await startFakeOpenAIServer({
      responses: [{ content: "0123456789", chunkSize: 2, chunkDelayMs: 40 }],
    });
    const started = Date.now();
    const response = await postJson(`${server.url}/chat/completions`, { ...chatBody, stream: true });
    const reader = response.body!.getReader();
    const first = await reader.read();
    const firstAt = Date.now();
    expect(new TextDecoder().decode(first.value)).toContain("chat.completion.chunk");
    while (!(await reader.read()).done) {
      // drain
    }
    const recorded = server.requests[0]!;
    expect(recorded.finishedAt).toBeDefined();
    // 7 frames after the first, 40 ms apart: the end is at least ~200 ms after the first frame.
    expect(recorded.finishedAt! - recorded.firstChunkAt!).toBeGreaterThanOrEqual(200);
    expect(firstAt).toBeLessThan(recorded.finishedAt!);
    expect(firstAt - started).toBeLessThan(recorded.finishedAt! - started);
  });

  it("answers a scripted status with an OpenAI-style error body, and 429 with retry-after-ms", async () => {
    server = await startFakeOpenAIServer({
      responses: [
        { status: 429 },
        { status: 503, errorBody: { error: { message: "overloaded" } } },
        { status: 400, headers: { "x-custom": "1" } },
      ],
    });
    const limited = await postJson(`${server.url}/chat/completions`, chatBody);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after-ms")).toBe("1");
    expect(((await limited.json()) as any).error.type).toBe("rate_limit_exceeded");
    const overloaded = await postJson(`${server.url}/chat/completions`, chatBody);
    expect(overloaded.status).toBe(503);
    expect(await overloaded.json()).toEqual({ error: { message: "overloaded" } });
    const bad = await postJson(`${server.url}/chat/completions`, chatBody);
    expect(bad.status).toBe(400);
    expect(bad.headers.get("x-custom")).toBe("1");
    expect(bad.headers.get("retry-after-ms")).toBeNull();
  });

  it("records path, query, lower-case headers, parsed body and the Azure deployment", async () => {
    server = await startFakeOpenAIServer({ responses: ["a", "b"] });
    await postJson(`${server.url}/chat/completions`, chatBody, { "X-Trace": "t1" });
    await postJson(
      `${server.origin}/openai/deployments/my-gpt/chat/completions?api-version=2024-06-01`,
      { messages: [] },
      { "api-key": "k" },
    );
    expect(server.requests).toHaveLength(2);
    expect(server.requests[0]).toMatchObject({
      method: "POST",
      path: "/v1/chat/completions",
      body: chatBody,
      query: {},
    });
    expect(server.requests[0]!.headers["x-trace"]).toBe("t1");
    expect(server.requests[0]!.deployment).toBeUndefined();
    expect(server.requests[1]).toMatchObject({
      path: "/openai/deployments/my-gpt/chat/completions",
      query: { "api-version": "2024-06-01" },
      deployment: "my-gpt",
    });
    expect(server.requests[1]!.headers["api-key"]).toBe("k");
    expect(server.chatRequests).toHaveLength(2);
    expect(server.pendingResponses).toBe(0);
  });

  it("answers embeddings as floats or base64, with the embed option or a deterministic default", async () => {
    server = await startFakeOpenAIServer({ embed: (text) => [text.length, 1, 0] });
    const floats = (await (
      await postJson(`${server.url}/embeddings`, { model: "e", input: ["ab", "abcd"] })
    ).json()) as any;
    expect(floats.data.map((item: any) => item.embedding)).toEqual([
      [2, 1, 0],
      [4, 1, 0],
    ]);
    expect(floats.usage.prompt_tokens).toBeGreaterThan(0);
    const encoded = (await (
      await postJson(`${server.url}/embeddings`, { model: "e", input: "abc", encoding_format: "base64" })
    ).json()) as any;
    const buffer = Buffer.from(encoded.data[0].embedding, "base64");
    expect(Array.from(new Float32Array(buffer.buffer, buffer.byteOffset, buffer.byteLength / 4))).toEqual([
      3, 1, 0,
    ]);

    await server.close();
    server = await startFakeOpenAIServer();
    const embedOnce = async (input: string[]) =>
      ((await (await postJson(`${server!.url}/embeddings`, { model: "e", input })).json()) as any).data.map(
        (item: any) => item.embedding as number[],
      );
    const [first, again, other] = await embedOnce(["count the rows", "count the rows", "zebra xylophone"]);
    expect(first).toEqual(again);
    expect(first).toHaveLength(16);
    expect(first).not.toEqual(other);
  });

  it("lists models on GET /v1/models and answers 404 JSON for unknown routes", async () => {
    server = await startFakeOpenAIServer({ models: ["m1"] });
    const models = (await (await fetch(`${server.url}/models`)).json()) as any;
    expect(models.data.map((model: any) => model.id)).toEqual(["m1"]);
    const missing = await fetch(`${server.url}/nothing`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as any).error.message).toContain("no route");
  });

  it("cuts the connection when scripted to, and notes a client that went away", async () => {
    server = await startFakeOpenAIServer({
      responses: [{ disconnectAfterChunks: 0 }, { content: "x".repeat(200), chunkSize: 1, chunkDelayMs: 5 }],
    });
    await expect(postJson(`${server.url}/chat/completions`, chatBody)).rejects.toThrow();
    const controller = new AbortController();
    const response = await fetch(`${server.url}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...chatBody, stream: true }),
      signal: controller.signal,
    });
    await response.body!.getReader().read();
    controller.abort();
    await expect.poll(() => server!.requests[1]!.closedByClient, { timeout: 2000 }).toBe(true);
    expect(server.requests[1]!.finishedAt).toBeUndefined();
  });

  it("sends an error frame mid-stream when scripted to", async () => {
    server = await startFakeOpenAIServer({
      responses: [
        { content: "abcdef", chunkSize: 2, streamError: { message: "overloaded", afterChunks: 2 } },
      ],
    });
    const payloads = sseData(
      await (await postJson(`${server.url}/chat/completions`, { ...chatBody, stream: true })).text(),
    );
    expect(payloads).toHaveLength(3);
    expect(JSON.parse(payloads[1]!).choices[0].delta.content).toBe("ab");
    expect(JSON.parse(payloads[2]!)).toMatchObject({ error: { message: "overloaded" } });
  });

  it("close() ends open streaming connections instead of waiting for them", async () => {
    server = await startFakeOpenAIServer({
      responses: [{ content: "y".repeat(100), chunkSize: 1, chunkDelayMs: 50 }],
    });
    const response = await postJson(`${server.url}/chat/completions`, { ...chatBody, stream: true });
    const reader = response.body!.getReader();
    await reader.read();
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(
      (async () => {
        while (!(await reader.read()).done) {
          // drain until the connection is cut
        }
      })(),
    ).rejects.toThrow();
    server = undefined;
  });
});
