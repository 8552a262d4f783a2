import { inspect } from "node:util";
import { startFakeOpenAIServer, type FakeOpenAIServer } from "@taskweaver/fake-openai";
import { afterEach, describe, expect, it } from "vitest";
import { AbortedError, LlmNotConfiguredError, LlmResponseError, TaskWeaverError } from "../../errors.js";
import type { ChatRequest, ChatStreamPart, LanguageModel, LlmRetryInfo } from "../types.js";
import { createOpenAICompatibleModel as createLanguageModel } from "./openai-compatible-chat-model.js";
import type { OpenAICompatibleModelOptions as LanguageModelOptions } from "./openai-compatible-settings.js";

let server: FakeOpenAIServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(...responses: Parameters<FakeOpenAIServer["enqueue"]>): Promise<FakeOpenAIServer> {
  server = await startFakeOpenAIServer({ responses });
  return server;
}

function model(overrides: Partial<LanguageModelOptions> = {}): LanguageModel {
  return createLanguageModel({
    model: "gpt-test",
    apiKey: "sk-secret-test-key",
    baseUrl: server!.url,
    retryBaseDelayMs: 1,
    ...overrides,
  });
}

const hello: ChatRequest = { messages: [{ role: "user", content: "Say hello in JSON" }] };

async function collect(stream: AsyncIterable<ChatStreamPart>): Promise<ChatStreamPart[]> {
  const parts: ChatStreamPart[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

function text(parts: ChatStreamPart[]): string {
  return parts.map((part) => (part.type === "text-delta" ? part.text : "")).join("");
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to fail");
}

describe("createLanguageModel", () => {
  it("streams text deltas that arrive before the server has sent its last chunk", async () => {
    await start({ content: '{"response": "hello there, this is streamed"}', chunkSize: 4, chunkDelayMs: 25 });
    let firstDeltaAt: number | undefined;
    const parts: ChatStreamPart[] = [];
    for await (const part of model().streamChat(hello)) {
      if (part.type === "text-delta" && firstDeltaAt === undefined) firstDeltaAt = Date.now();
      parts.push(part);
    }
    const recorded = server!.chatRequests[0]!;
    expect(firstDeltaAt).toBeDefined();
    expect(recorded.finishedAt).toBeDefined();
    // 12 content frames 25 ms apart: the first delta must be seen well before the stream ended.
    expect(recorded.finishedAt! - firstDeltaAt!).toBeGreaterThan(100);
    expect(parts.filter((part) => part.type === "text-delta").length).toBeGreaterThan(5);
    expect(text(parts)).toBe('{"response": "hello there, this is streamed"}');
    expect(parts.at(-1)).toMatchObject({ type: "finish", finishReason: "stop" });
    expect(recorded.body).toMatchObject({
      model: "gpt-test",
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(recorded.headers.authorization).toBe("Bearer sk-secret-test-key");
  });

  it("sends the messages, temperature, max_tokens and seed it was configured with", async () => {
    await start("{}");
    await collect(
      model({ temperature: 0.3, maxTokens: 99, seed: 7 }).streamChat({
        messages: [
          { role: "system", content: "be brief" },
          {
            role: "user",
            content: [
              { type: "text", text: "look" },
              { type: "image_url", image_url: { url: "data:x" } },
            ],
          },
          { role: "assistant", content: "", toolCalls: [{ id: "call_1", name: "f", arguments: "{}" }] },
          { role: "tool", content: "42", toolCallId: "call_1" },
        ],
      }),
    );
    expect(server!.chatRequests[0]!.body).toMatchObject({
      temperature: 0.3,
      max_tokens: 99,
      seed: 7,
      messages: [
        { role: "system", content: "be brief" },
        {
          role: "user",
          content: [
            { type: "text", text: "look" },
            { type: "image_url", image_url: { url: "data:x" } },
          ],
        },
        {
          role: "assistant",
          content: "",
          tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: "{}" } }],
        },
        { role: "tool", content: "42", tool_call_id: "call_1" },
      ],
    });
  });

  it("falls back to one non-streamed answer when streaming is off", async () => {
    await start({ content: "whole answer", usage: { promptTokens: 11, completionTokens: 3 } });
    const llm = model({ stream: false });
    const parts = await collect(llm.streamChat(hello));
    expect(parts).toEqual([
      { type: "text-delta", text: "whole answer" },
      {
        type: "finish",
        finishReason: "stop",
        usage: { promptTokens: 11, completionTokens: 3, totalTokens: 14 },
      },
    ]);
    const body = server!.chatRequests[0]!.body as Record<string, unknown>;
    expect(body.stream).toBeFalsy();
    expect(llm.usage[0]?.usage?.totalTokens).toBe(14);
  });

  it("sends each response format as OpenAI expects it", async () => {
    await start("{}", "{}", "{}", "plain");
    const llm = model();
    const schema = {
      type: "object",
      properties: { a: { type: "string" } },
      required: ["a"],
      additionalProperties: false,
    };
    await collect(llm.streamChat(hello));
    await collect(llm.streamChat({ ...hello, responseFormat: "json_object" }));
    await collect(
      llm.streamChat({ ...hello, responseFormat: "json_schema", jsonSchema: { name: "reply", schema } }),
    );
    await collect(llm.streamChat({ ...hello, responseFormat: "text" }));
    const formats = server!.chatRequests.map(
      (request) => (request.body as Record<string, unknown>).response_format,
    );
    expect(formats).toEqual([
      { type: "json_object" },
      { type: "json_object" },
      { type: "json_schema", json_schema: { name: "reply", schema, strict: true } },
      undefined,
    ]);
  });

  it("uses the configured default response format when the request names none", async () => {
    await start("plain");
    await collect(model({ responseFormat: "text" }).streamChat(hello));
    expect((server!.chatRequests[0]!.body as Record<string, unknown>).response_format).toBeUndefined();
  });

  it("refuses a json_schema request without a schema before calling the server", async () => {
    await start("{}");
    const error = await failure(collect(model().streamChat({ ...hello, responseFormat: "json_schema" })));
    expect(TaskWeaverError.isInstance(error)).toBe(true);
    expect((error as TaskWeaverError).message).toContain("jsonSchema");
    expect(server!.requests).toHaveLength(0);
  });

  it("sends tools and returns streamed tool calls whole", async () => {
    await start({
      content: "",
      toolCalls: [
        { name: "lookup", arguments: { city: "Paris", days: 3 } },
        { name: "convert", arguments: '{"unit":"C"}', id: "call_given" },
      ],
      chunkSize: 3,
    });
    const parts = await collect(
      model().streamChat({
        ...hello,
        responseFormat: "text",
        tools: [
          { name: "lookup", description: "Find weather", parameters: { type: "object", properties: {} } },
        ],
      }),
    );
    expect((server!.chatRequests[0]!.body as Record<string, unknown>).tools).toEqual([
      {
        type: "function",
        function: {
          name: "lookup",
          description: "Find weather",
          parameters: { type: "object", properties: {} },
        },
      },
    ]);
    const calls = parts.flatMap((part) => (part.type === "tool-call" ? [part.toolCall] : []));
    expect(calls).toHaveLength(2);
    expect(calls[0]!.name).toBe("lookup");
    expect(JSON.parse(calls[0]!.arguments)).toEqual({ city: "Paris", days: 3 });
    expect(calls[1]).toEqual({ id: "call_given", name: "convert", arguments: '{"unit":"C"}' });
    expect(parts.at(-1)).toMatchObject({ type: "finish", finishReason: "tool_calls" });
  });

  it("records token usage of each call with its tag", async () => {
    await start(
      { content: "one", usage: { promptTokens: 20, completionTokens: 5 } },
      { content: "two", usage: { promptTokens: 30, completionTokens: 6 } },
    );
    const llm = model();
    const parts = await collect(llm.streamChat({ ...hello, tag: "Planner" }));
    await collect(llm.streamChat({ ...hello, tag: "CodeInterpreter" }));
    expect(parts.at(-1)).toEqual({
      type: "finish",
      finishReason: "stop",
      usage: { promptTokens: 20, completionTokens: 5, totalTokens: 25 },
    });
    expect(llm.usage).toHaveLength(2);
    expect(llm.usage[0]).toMatchObject({
      model: "gpt-test",
      tag: "Planner",
      usage: { promptTokens: 20, completionTokens: 5, totalTokens: 25 },
    });
    expect(llm.usage[1]).toMatchObject({ tag: "CodeInterpreter", usage: { totalTokens: 36 } });
    expect(llm.usage[0]!.durationMs).toBeGreaterThanOrEqual(0);
    expect(Number.isNaN(Date.parse(llm.usage[0]!.at))).toBe(false);
  });

  it("retries after a 429, honouring retry-after, and then succeeds", async () => {
    await start({ status: 429, headers: { "retry-after-ms": "30" } }, "after the limit");
    const retries: LlmRetryInfo[] = [];
    const perRequest: LlmRetryInfo[] = [];
    const llm = model({ retryBaseDelayMs: 5000, onRetry: (info) => retries.push(info) });
    const started = Date.now();
    const parts = await collect(llm.streamChat({ ...hello, onRetry: (info) => perRequest.push(info) }));
    expect(text(parts)).toBe("after the limit");
    expect(server!.chatRequests).toHaveLength(2);
    expect(retries).toEqual([expect.objectContaining({ retry: 1, delayMs: 30, status: 429 })]);
    // The request's own listener hears the same retry (roles show it as a post status).
    expect(perRequest).toEqual(retries);
    // The server's 30 ms were used, not the 5 s backoff.
    expect(Date.now() - started).toBeLessThan(3000);
    expect(llm.usage).toHaveLength(1);
  });

  it("gives up with LlmResponseError after max retries of 500", async () => {
    await start({ status: 500 }, { status: 500 }, { status: 500 }, "never reached");
    const retries: LlmRetryInfo[] = [];
    const error = await failure(
      collect(model({ maxRetries: 2, onRetry: (info) => retries.push(info) }).streamChat(hello)),
    );
    expect(error).toBeInstanceOf(LlmResponseError);
    expect((error as LlmResponseError).status).toBe(500);
    expect((error as LlmResponseError).message).toContain("after 3 attempts");
    expect(server!.chatRequests).toHaveLength(3);
    expect(retries.map((info) => info.retry)).toEqual([1, 2]);
    expect(server!.pendingResponses).toBe(1);
  });

  it("backs off exponentially with jitter when the server names no delay", async () => {
    await start({ status: 503, headers: {} }, { status: 502, headers: {} }, "ok");
    const retries: LlmRetryInfo[] = [];
    await collect(
      model({ retryBaseDelayMs: 20, random: () => 0.5, onRetry: (info) => retries.push(info) }).streamChat(
        hello,
      ),
    );
    // 20 ms then 40 ms, each half fixed and half jittered (random 0.5 -> 75%).
    expect(retries.map((info) => info.delayMs)).toEqual([15, 30]);
  });

  it("does not retry a 400 and tells the user what to check", async () => {
    await start(
      { status: 400, errorBody: { error: { message: "response_format is not supported" } } },
      "unused",
    );
    const error = (await failure(collect(model().streamChat(hello)))) as LlmResponseError;
    expect(error).toBeInstanceOf(LlmResponseError);
    expect(error.status).toBe(400);
    expect(error.message).toContain("response_format is not supported");
    expect(error.message).toContain("llm.model");
    expect(server!.chatRequests).toHaveLength(1);
  });

  it("drops temperature and renames max_tokens for models that reject them, and remembers it", async () => {
    const rejects = (param: string) => ({
      status: 400,
      errorBody: {
        error: {
          message: `Unsupported parameter: '${param}'`,
          type: "invalid_request_error",
          param,
          code: "unsupported_parameter",
        },
      },
    });
    await start(rejects("temperature"), rejects("max_tokens"), "ok", "again");
    const llm = model({ model: "o3-mini", maxTokens: 100, maxRetries: 0 });
    expect(text(await collect(llm.streamChat(hello)))).toBe("ok");
    expect(text(await collect(llm.streamChat(hello)))).toBe("again");
    const bodies = server!.chatRequests.map((request) => request.body as Record<string, unknown>);
    expect(bodies).toHaveLength(4);
    expect(bodies[0]).toMatchObject({ temperature: 0, max_tokens: 100 });
    expect(bodies[1]!.temperature).toBeUndefined();
    expect(bodies[2]!.max_tokens).toBeUndefined();
    expect(bodies[2]!.max_completion_tokens).toBe(100);
    expect(bodies[3]!.temperature).toBeUndefined();
    expect(bodies[3]!.max_completion_tokens).toBe(100);
  });

  it("names the API key setting on 401 and never reveals the key", async () => {
    await start({
      status: 401,
      errorBody: { error: { message: "Incorrect API key provided: sk-secret-test-key" } },
    });
    const error = (await failure(collect(model().streamChat(hello)))) as LlmResponseError;
    expect(error.status).toBe(401);
    expect(error.message).toContain("llm.api_key");
    expect(error.message).toContain("LLM_API_KEY");
    expect(error.message).not.toContain("sk-secret-test-key");
    // Printing the error (which prints its cause chain) must not reveal it either.
    expect(inspect(error, { depth: 10 })).not.toContain("sk-secret-test-key");
    expect(inspect(error, { depth: 10 })).toContain("Incorrect API key provided: ***");
  });

  it("names the model and base URL on 404", async () => {
    await start({ status: 404 });
    const error = (await failure(collect(model().streamChat(hello)))) as LlmResponseError;
    expect(error.message).toContain('"gpt-test"');
    expect(error.message).toContain("llm.api_base");
    expect(error.message).toContain(server!.url);
  });

  it("retries a dropped connection before the first token", async () => {
    await start({ disconnectAfterChunks: 0 }, "second try");
    const parts = await collect(model().streamChat(hello));
    expect(text(parts)).toBe("second try");
    expect(server!.chatRequests).toHaveLength(2);
  });

  it("does not retry once part of the answer was streamed", async () => {
    await start({ content: "abcdefghijklmnop", chunkSize: 2, disconnectAfterChunks: 3 }, "must not be used");
    const seen: string[] = [];
    const error = await failure(
      (async () => {
        for await (const part of model().streamChat(hello))
          if (part.type === "text-delta") seen.push(part.text);
      })(),
    );
    expect(error).toBeInstanceOf(LlmResponseError);
    expect((error as Error).message).toContain("mid-stream");
    expect(seen.join("")).toBe("abcd");
    expect(server!.chatRequests).toHaveLength(1);
  });

  it("retries an error frame sent before any token, and reports one sent mid-answer", async () => {
    await start({ content: "lost", streamError: { message: "upstream overloaded" } }, "recovered");
    const retries: LlmRetryInfo[] = [];
    expect(text(await collect(model({ onRetry: (info) => retries.push(info) }).streamChat(hello)))).toBe(
      "recovered",
    );
    expect(retries).toHaveLength(1);
    expect(retries[0]!.reason).toContain("upstream overloaded");

    server!.enqueue(
      { content: "abcdefgh", chunkSize: 2, streamError: { message: "upstream broke", afterChunks: 3 } },
      "unused",
    );
    const error = (await failure(collect(model().streamChat(hello)))) as LlmResponseError;
    expect(error).toBeInstanceOf(LlmResponseError);
    expect(error.message).toContain("mid-stream");
    expect(error.message).toContain("upstream broke");
    expect(server!.pendingResponses).toBe(1);
  });

  it("aborts a call still waiting for the response to start", async () => {
    await start({ content: "slow", delayMs: 3000 });
    const controller = new AbortController();
    const call = failure(collect(model().streamChat({ ...hello, signal: controller.signal })));
    // Abort only once the server holds the request, so the wait really is for the response.
    await expect.poll(() => server!.chatRequests.length, { timeout: 5000 }).toBe(1);
    const abortedAt = Date.now();
    controller.abort();
    const error = await call;
    expect(error).toBeInstanceOf(AbortedError);
    expect(Date.now() - abortedAt).toBeLessThan(500);
    await expect.poll(() => server!.chatRequests[0]!.closedByClient, { timeout: 2000 }).toBe(true);
  });

  it("rejects at once when the signal is already aborted", async () => {
    await start("unused");
    const error = await failure(collect(model().streamChat({ ...hello, signal: AbortSignal.abort() })));
    expect(error).toBeInstanceOf(AbortedError);
    await expect(
      model({ embeddingModel: "e" }).embed(["a"], { signal: AbortSignal.abort() }),
    ).rejects.toBeInstanceOf(AbortedError);
    expect(server!.requests).toHaveLength(0);
  });

  it("retries embeddings after a 429 and names the embedding model on 404", async () => {
    server = await startFakeOpenAIServer();
    let calls = 0;
    const flakyFetch: typeof fetch = async (input, init) => {
      calls += 1;
      if (calls === 1)
        return new Response(JSON.stringify({ error: { message: "slow down" } }), {
          status: 429,
          headers: { "retry-after-ms": "1" },
        });
      if (calls === 3)
        return new Response(JSON.stringify({ error: { message: "no such model" } }), { status: 404 });
      return fetch(input, init);
    };
    const llm = model({ embeddingModel: "embed-x", fetch: flakyFetch });
    expect(await llm.embed(["a"])).toHaveLength(1);
    expect(calls).toBe(2);
    const error = (await failure(llm.embed(["b"]))) as LlmResponseError;
    expect(error.status).toBe(404);
    expect(error.message).toContain('"embed-x"');
  });

  it("reports an unreachable server with the base URL to check", async () => {
    await start();
    const url = server!.url;
    await server!.close();
    server = undefined;
    const llm = createLanguageModel({ model: "m", baseUrl: url, maxRetries: 1, retryBaseDelayMs: 1 });
    const error = (await failure(collect(llm.streamChat(hello)))) as LlmResponseError;
    expect(error).toBeInstanceOf(LlmResponseError);
    expect(error.message).toContain("Could not reach");
    expect(error.message).toContain("LLM_API_BASE");
    expect(error.message).toContain("after 2 attempts");
  });

  it("times out a server that does not answer, retrying within llm.request_timeout", async () => {
    await start({ content: "late", delayMs: 2000 }, { content: "late again", delayMs: 2000 });
    const retries: LlmRetryInfo[] = [];
    const started = Date.now();
    const llm = model({ requestTimeoutMs: 150, maxRetries: 1, onRetry: (info) => retries.push(info) });
    const error = (await failure(collect(llm.streamChat(hello)))) as LlmResponseError;
    expect(error).toBeInstanceOf(LlmResponseError);
    expect(error.message).toContain("llm.request_timeout");
    expect(error.message).toContain("after 2 attempts");
    expect(retries).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it("does not time out a caller that is slow to read the deltas", async () => {
    await start({ content: "abcdef", chunkSize: 2 });
    let received = "";
    for await (const part of model({ requestTimeoutMs: 100 }).streamChat(hello)) {
      if (part.type === "text-delta") {
        received += part.text;
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    }
    expect(received).toBe("abcdef");
    expect(server!.chatRequests).toHaveLength(1);
  });

  it("times out a stream that stalls after its headers", async () => {
    await start({ content: "abcdef", chunkSize: 2, chunkDelayMs: 1500 });
    const started = Date.now();
    const error = (await failure(
      collect(model({ requestTimeoutMs: 150, maxRetries: 0 }).streamChat(hello)),
    )) as LlmResponseError;
    expect(error).toBeInstanceOf(LlmResponseError);
    expect(error.message).toContain("llm.request_timeout");
    expect(Date.now() - started).toBeLessThan(1200);
  });

  it("stops at once with AbortedError when aborted mid-stream", async () => {
    await start({ content: "x".repeat(400), chunkSize: 2, chunkDelayMs: 20 });
    const controller = new AbortController();
    let deltas = 0;
    let abortedAt = 0;
    const error = await failure(
      (async () => {
        for await (const part of model().streamChat({ ...hello, signal: controller.signal })) {
          if (part.type === "text-delta" && ++deltas === 3) {
            abortedAt = Date.now();
            controller.abort();
          }
        }
      })(),
    );
    expect(error).toBeInstanceOf(AbortedError);
    expect(Date.now() - abortedAt).toBeLessThan(500);
    await expect.poll(() => server!.chatRequests[0]!.closedByClient, { timeout: 2000 }).toBe(true);
  });

  it("aborts during the backoff wait without another attempt", async () => {
    await start({ status: 429, headers: { "retry-after-ms": "5000" } }, "unused");
    const controller = new AbortController();
    const llm = model({ onRetry: () => setTimeout(() => controller.abort(), 20) });
    const started = Date.now();
    const error = await failure(collect(llm.streamChat({ ...hello, signal: controller.signal })));
    expect(error).toBeInstanceOf(AbortedError);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(server!.chatRequests).toHaveLength(1);
  });

  it("talks to Azure OpenAI deployment URLs with the api-key header", async () => {
    await start("from azure");
    const llm = createLanguageModel({
      apiType: "azure",
      model: "my-deployment",
      apiKey: "azure-key",
      baseUrl: server!.origin,
      azureApiVersion: "2024-10-21",
      embeddingModel: "my-embedding",
    });
    const parts = await collect(llm.streamChat(hello));
    expect(text(parts)).toBe("from azure");
    const recorded = server!.chatRequests[0]!;
    expect(recorded.path).toBe("/openai/deployments/my-deployment/chat/completions");
    expect(recorded.query["api-version"]).toBe("2024-10-21");
    expect(recorded.deployment).toBe("my-deployment");
    expect(recorded.headers["api-key"]).toBe("azure-key");
    expect(recorded.headers.authorization).toBeUndefined();
    await llm.embed(["a"]);
    expect(server!.requests[1]!.path).toBe("/openai/deployments/my-embedding/embeddings");
  });

  it("asks Azure for the usage of streamed answers with the default API version, and counts it", async () => {
    await start({ content: "from azure", usage: { promptTokens: 11, completionTokens: 3 } });
    const llm = createLanguageModel({ apiType: "azure", model: "d", apiKey: "k", baseUrl: server!.origin });
    await collect(llm.streamChat(hello));
    const recorded = server!.chatRequests[0]!;
    expect(recorded.query["api-version"]).toBe("2024-10-21");
    expect((recorded.body as Record<string, unknown>).stream_options).toEqual({ include_usage: true });
    expect(llm.usage[0]).toMatchObject({ usage: { promptTokens: 11, completionTokens: 3, totalTokens: 14 } });
  });

  it("omits stream_options for Azure API versions that reject it", async () => {
    await start("ok");
    await collect(
      createLanguageModel({
        apiType: "azure",
        model: "d",
        apiKey: "k",
        baseUrl: `${server!.origin}/openai/`,
        azureApiVersion: "2024-06-01",
      }).streamChat(hello),
    );
    expect(server!.chatRequests[0]!.path).toBe("/openai/deployments/d/chat/completions");
    expect((server!.chatRequests[0]!.body as Record<string, unknown>).stream_options).toBeUndefined();
  });

  it("embeds texts in order and records their usage", async () => {
    server = await startFakeOpenAIServer({ embed: (input) => [input.length, 0.5] });
    const llm = model({ embeddingModel: "text-embedding-test" });
    const vectors = await llm.embed(["a", "abc", "ab"]);
    expect(vectors).toEqual([
      [1, 0.5],
      [3, 0.5],
      [2, 0.5],
    ]);
    expect(server.requests[0]!.body).toMatchObject({
      model: "text-embedding-test",
      input: ["a", "abc", "ab"],
    });
    expect(llm.usage[0]).toMatchObject({ model: "text-embedding-test", tag: "embedding" });
    expect(llm.usage[0]!.usage!.promptTokens).toBeGreaterThan(0);
  });

  it("asks for an embedding model when none is configured", async () => {
    await start();
    const error = await failure(model().embed(["a"]));
    expect(error).toBeInstanceOf(LlmNotConfiguredError);
    expect((error as LlmNotConfiguredError).missingKeys).toEqual(["llm.embedding_model"]);
  });
});
