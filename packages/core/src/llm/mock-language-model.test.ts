import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { startFakeOpenAIServer, type FakeOpenAIServer } from "@taskweaver/fake-openai";
import { parse } from "yaml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AbortedError, ConfigError, LlmResponseError, MockAnswerMissingError } from "../errors.js";
import { chatRequestCacheKey, createMockLanguageModel } from "./mock-language-model.js";
import { createOpenAICompatibleModel } from "./openai-compatible/openai-compatible-chat-model.js";
import type { ChatRequest, ChatStreamPart, LanguageModel } from "./types.js";
import { runWithModelCallSink, type ModelCallReport } from "../usage/usage-scope.js";

let server: FakeOpenAIServer | undefined;
let directory: string;
let cachePath: string;
beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), "taskweaver-mock-"));
  cachePath = join(directory, "cache", "mock.yaml");
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  rmSync(directory, { recursive: true, force: true });
});

function realModel(): LanguageModel {
  return createOpenAICompatibleModel({
    model: "gpt-test",
    apiKey: "sk-test",
    baseUrl: server!.url,
    embeddingModel: "embed-test",
    retryBaseDelayMs: 1,
  });
}

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

const question: ChatRequest = { messages: [{ role: "user", content: "count the rows of demo_data.csv" }] };
const answer =
  '{"response": [{"type": "thought", "content": "I will ask the CodeInterpreter to count rows."}]}';

describe("createMockLanguageModel", () => {
  it("reports a recorded call once (by the real client) and a played-back one by itself, for round usage", async () => {
    server = await startFakeOpenAIServer({ responses: [{ content: answer, usage: { promptTokens: 120, completionTokens: 30 } }] });
    const reports: ModelCallReport[] = [];
    const mock = createMockLanguageModel({ mode: "playback_or_record", cachePath, recorder: realModel(), pricing: { "gpt-test": { input: 1, output: 1 } } });
    await runWithModelCallSink((report) => reports.push(report), async () => {
      await collect(mock.streamChat(question));
      await collect(mock.streamChat(question));
    });
    expect(server.requests).toHaveLength(1);
    expect(reports).toHaveLength(2);
    expect(reports[0]).toMatchObject({ model: "gpt-test", usage: { promptTokens: 120, completionTokens: 30 } });
    // The playback has no token counts, so no cost; it still counts as a model call.
    expect(reports[1]).toMatchObject({ model: "gpt-test", usage: undefined, costUsd: undefined });
    // Outside a sink nothing is reported, and nothing breaks.
    await collect(mock.streamChat(question));
    expect(reports).toHaveLength(2);
  });


  it("records real answers, then plays them back in chunks with the server closed", async () => {
    server = await startFakeOpenAIServer({
      responses: [
        answer,
        { content: "", toolCalls: [{ name: "lookup", arguments: { q: "x" }, id: "call_1" }] },
      ],
      embed: (input) => [input.length, 2],
    });
    const recorder = createMockLanguageModel({
      mode: "playback_or_record",
      cachePath,
      recorder: realModel(),
    });
    const toolRequest: ChatRequest = {
      ...question,
      responseFormat: "text",
      tools: [{ name: "lookup", description: "look up", parameters: { type: "object" } }],
    };
    expect(text(await collect(recorder.streamChat(question)))).toBe(answer);
    await collect(recorder.streamChat(toolRequest));
    expect(await recorder.embed(["abc", "de"])).toEqual([
      [3, 2],
      [2, 2],
    ]);
    expect(server.requests).toHaveLength(3);
    expect(recorder.usage[0]!.usage?.totalTokens).toBeGreaterThan(0);

    const file = parse(readFileSync(cachePath, "utf8")) as {
      chat: Record<string, { content: string; request_preview: string }>;
    };
    expect(Object.values(file.chat).map((entry) => entry.content)).toContain(answer);
    expect(Object.values(file.chat)[0]!.request_preview).toBe("count the rows of demo_data.csv");
    expect(readFileSync(cachePath, "utf8")).toMatch(/: \[ 3, 2 \]\n/);
    await server.close();
    server = undefined;

    const player = createMockLanguageModel({ mode: "playback_only", cachePath, playbackChunkSize: 10 });
    const parts = await collect(player.streamChat(question));
    const deltas = parts.filter((part) => part.type === "text-delta");
    expect(deltas.length).toBe(Math.ceil(answer.length / 10));
    expect(text(parts)).toBe(answer);
    expect(parts.at(-1)).toEqual({ type: "finish", finishReason: "stop" });
    const toolParts = await collect(player.streamChat(toolRequest));
    expect(toolParts).toEqual([
      { type: "tool-call", toolCall: { id: "call_1", name: "lookup", arguments: '{"q":"x"}' } },
      { type: "finish", finishReason: "tool_calls" },
    ]);
    expect(await player.embed(["de"])).toEqual([[2, 2]]);
    expect(player.usage).toHaveLength(2);
  });

  it("fails a playback_only miss with MockAnswerMissingError that says what the recording has", async () => {
    mkdirSync(dirname(cachePath), { recursive: true });
    writeFileSync(cachePath, "");
    const player = createMockLanguageModel({ mode: "playback_only", cachePath });
    const error = (await failure(collect(player.streamChat(question)))) as MockAnswerMissingError;
    expect(MockAnswerMissingError.isInstance(error)).toBe(true);
    expect(error).toBeInstanceOf(MockAnswerMissingError);
    expect(error.code).toBe("mock_answer_missing");
    expect(error.cachePath).toBe(cachePath);
    expect(error.requestPreview).toBe("count the rows of demo_data.csv");
    expect(error.message).toContain("no recorded answer");
    expect(error.message).toContain(cachePath);
    expect(error.message).toContain("count the rows of demo_data.csv");
    expect(error.message).toContain("holds 0 recorded requests");
    const embedError = (await failure(player.embed(["x"]))) as MockAnswerMissingError;
    expect(embedError).toBeInstanceOf(MockAnswerMissingError);
    expect(embedError.message).toMatch(/no recorded embedding/);
    expect(embedError.requestPreview).toBe("x");
  });

  it("says in plain words how many requests the recording has and how to use a real model", async () => {
    server = await startFakeOpenAIServer({ responses: [answer, "second"] });
    const recorder = createMockLanguageModel({ cachePath, recorder: realModel() });
    await collect(recorder.streamChat(question));
    await collect(recorder.streamChat({ messages: [{ role: "user", content: "and the columns?" }] }));
    const player = createMockLanguageModel({ mode: "playback_only", cachePath });
    const own = { messages: [{ role: "user" as const, content: "what is the weather?" }] };
    const error = (await failure(collect(player.streamChat(own)))) as MockAnswerMissingError;
    expect(error).toBeInstanceOf(MockAnswerMissingError);
    const firstSentence = error.message.slice(0, error.message.indexOf(". ") + 1);
    expect(firstSentence).toContain('no recorded answer for "what is the weather?"');
    expect(firstSentence).toContain("holds 2 recorded requests");
    expect(firstSentence).not.toContain(chatRequestCacheKey(own));
    expect(firstSentence).not.toMatch(/\b[0-9a-f]{32}\b/);
    for (const hint of ["LLM_API_KEY", "LLM_MODEL", "llm.api_key", "llm.model", "llm.use_mock"]) {
      expect(error.message).toContain(hint);
    }
    expect(error.message).not.toContain("set llm.use_mock to true");
  });

  it("fails a playback_or_record miss without a real model with MockAnswerMissingError, not a config error", async () => {
    const player = createMockLanguageModel({ cachePath });
    const error = (await failure(collect(player.streamChat(question)))) as MockAnswerMissingError;
    expect(error).toBeInstanceOf(MockAnswerMissingError);
    expect(error.message).toContain("no real model is configured");
    expect(error.message).toContain("does not exist yet");
    expect(error.message).toContain("LLM_API_KEY");
    expect(error.requestPreview).toBe("count the rows of demo_data.csv");
    await expect(player.embed(["x"])).rejects.toBeInstanceOf(MockAnswerMissingError);
    expect(existsSync(cachePath)).toBe(false);
  });

  it("fails record_only without a real model with a ConfigError", async () => {
    const recorder = createMockLanguageModel({ mode: "record_only", cachePath });
    await expect(collect(recorder.streamChat(question))).rejects.toBeInstanceOf(ConfigError);
  });

  it("keys answers by messages, response format and tools, not by model", () => {
    const base = chatRequestCacheKey(question);
    expect(chatRequestCacheKey({ ...question, tag: "Planner" })).toBe(base);
    expect(chatRequestCacheKey({ ...question, responseFormat: "json_object" })).toBe(base);
    expect(chatRequestCacheKey({ ...question, responseFormat: "text" })).not.toBe(base);
    expect(
      chatRequestCacheKey({ messages: [{ role: "user", content: "count the rows of other.csv" }] }),
    ).not.toBe(base);
    expect(
      chatRequestCacheKey({ ...question, tools: [{ name: "f", description: "", parameters: {} }] }),
    ).not.toBe(base);
    const schemaA = {
      ...question,
      responseFormat: "json_schema" as const,
      jsonSchema: { name: "r", schema: { a: 1, b: 2 } },
    };
    const schemaB = {
      ...question,
      responseFormat: "json_schema" as const,
      jsonSchema: { name: "r", schema: { b: 2, a: 1 } },
    };
    expect(chatRequestCacheKey(schemaA)).toBe(chatRequestCacheKey(schemaB));
  });

  it("plays back under a different model than the one that recorded", async () => {
    server = await startFakeOpenAIServer({ responses: [answer] });
    await collect(createMockLanguageModel({ cachePath, recorder: realModel() }).streamChat(question));
    const other = createMockLanguageModel({ cachePath, modelId: "another-model", mode: "playback_only" });
    expect(text(await collect(other.streamChat(question)))).toBe(answer);
  });

  it("record_only calls the model every time and overwrites the entry", async () => {
    server = await startFakeOpenAIServer({ responses: ["first", "second"] });
    const recorder = createMockLanguageModel({ mode: "record_only", cachePath, recorder: realModel() });
    expect(text(await collect(recorder.streamChat(question)))).toBe("first");
    expect(text(await collect(recorder.streamChat(question)))).toBe("second");
    expect(server.chatRequests).toHaveLength(2);
    const player = createMockLanguageModel({ mode: "playback_only", cachePath });
    expect(text(await collect(player.streamChat(question)))).toBe("second");
  });

  it("does not record an answer that failed", async () => {
    server = await startFakeOpenAIServer({ responses: [{ status: 400 }] });
    const recorder = createMockLanguageModel({ cachePath, recorder: realModel() });
    await expect(collect(recorder.streamChat(question))).rejects.toBeInstanceOf(LlmResponseError);
    expect(existsSync(cachePath)).toBe(false);
  });

  it("keeps entries other writers put in the file, and leaves no temporary files", async () => {
    server = await startFakeOpenAIServer({ responses: ["one", "two"] });
    const first = createMockLanguageModel({ cachePath, recorder: realModel() });
    const second = createMockLanguageModel({ cachePath, recorder: realModel() });
    await collect(first.streamChat(question));
    await collect(second.streamChat({ messages: [{ role: "user", content: "another question" }] }));
    // `first` loaded the file before `second` wrote; its next write must not drop that entry.
    server.enqueue("three");
    await collect(first.streamChat({ messages: [{ role: "user", content: "third" }] }));
    const file = parse(readFileSync(cachePath, "utf8")) as { chat: Record<string, unknown> };
    expect(Object.keys(file.chat)).toHaveLength(3);
    expect(readdirSync(join(directory, "cache"))).toEqual(["mock.yaml"]);
  });

  it("answers the fixed response in fixed mode, streamed, without a cache", async () => {
    const model = createMockLanguageModel({
      mode: "fixed",
      fixedResponse: "always this answer",
      playbackChunkSize: 4,
    });
    const parts = await collect(model.streamChat(question));
    expect(parts.filter((part) => part.type === "text-delta")).toHaveLength(5);
    expect(text(parts)).toBe("always this answer");
    const [one, same, other] = await model.embed(["abc", "abc", "xyz"]);
    expect(one).toEqual(same);
    expect(one).not.toEqual(other);
    expect(existsSync(cachePath)).toBe(false);
  });

  it("requires a fixed response in fixed mode and a cache path otherwise", () => {
    expect(() => createMockLanguageModel({ mode: "fixed" })).toThrow(ConfigError);
    expect(() => createMockLanguageModel({ mode: "fixed" })).toThrow(/llm\.mock\.fixed_response/);
    expect(() => createMockLanguageModel({ mode: "playback_only" })).toThrow(/llm\.mock\.cache_path/);
  });

  it("explains a miss when there is no real model to record with", async () => {
    const model = createMockLanguageModel({ cachePath });
    const error = await failure(collect(model.streamChat(question)));
    expect(error).toBeInstanceOf(MockAnswerMissingError);
    expect((error as Error).message).toContain("llm.model");
  });

  it("reports a damaged cache file as a ConfigError naming the file", async () => {
    writeFileSync(join(directory, "bad.yaml"), "chat: [1, 2\n");
    const model = createMockLanguageModel({ mode: "playback_only", cachePath: join(directory, "bad.yaml") });
    const error = await failure(collect(model.streamChat(question)));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain("bad.yaml");
  });

  it("stops playback with AbortedError when aborted", async () => {
    const model = createMockLanguageModel({
      mode: "fixed",
      fixedResponse: "z".repeat(1000),
      playbackChunkSize: 1,
    });
    const controller = new AbortController();
    let deltas = 0;
    const error = await failure(
      (async () => {
        for await (const part of model.streamChat({ ...question, signal: controller.signal })) {
          if (part.type === "text-delta" && ++deltas === 5) controller.abort();
        }
      })(),
    );
    expect(error).toBeInstanceOf(AbortedError);
    expect(deltas).toBeLessThan(10);
  });
});
