import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTaskWeaver } from "../app.js";
import type { TaskWeaverEvent } from "../events/types.js";
import { createOpenAICompatibleModel } from "../llm/openai-compatible/openai-compatible-chat-model.js";
import { createFakeExecutor } from "../testing/fake-executor.js";
import { answers } from "../testing/scripted-model.js";
import { costOfCall } from "./pricing.js";
import { addUsage, formatUsageSummary, summarizeRoundUsage } from "./round-usage.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

/** A `fetch` that answers chat completions in order, each with the token counts given. */
function scriptedFetch(script: { content: string; prompt: number; completion: number; cached?: number }[]): typeof fetch {
  return async () => {
    const next = script.shift();
    if (!next) return new Response("no answer left", { status: 500 });
    const body = {
      id: "chatcmpl-test",
      object: "chat.completion",
      created: 0,
      model: "gpt-test",
      choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content: next.content } }],
      usage: {
        prompt_tokens: next.prompt,
        completion_tokens: next.completion,
        total_tokens: next.prompt + next.completion,
        ...(next.cached !== undefined ? { prompt_tokens_details: { cached_tokens: next.cached } } : {}),
      },
    };
    return new Response(JSON.stringify(body), { headers: { "content-type": "application/json" } });
  };
}

const pricing = { "gpt-test": { input: 2, output: 10, cached_input: 1 } };

async function setup(script: Parameters<typeof scriptedFetch>[0]) {
  const directory = mkdtempSync(join(tmpdir(), "tw-usage-"));
  directories.push(directory);
  writeFileSync(join(directory, "taskweaver_config.json"), "{}");
  const languageModel = createOpenAICompatibleModel({
    model: "gpt-test",
    baseUrl: "http://127.0.0.1:9/v1",
    stream: false,
    maxRetries: 0,
    fetch: scriptedFetch(script),
    pricing,
  });
  const app = await createTaskWeaver({
    appDir: directory,
    env: {},
    languageModel,
    executorFactory: () => createFakeExecutor(() => ({ output: "42" })),
  });
  const session = await app.createSession({ warmUp: false });
  return { app, session };
}

describe("round usage", () => {
  it("counts each model call to the role whose reply made it, with the client's reported tokens", async () => {
    const { app, session } = await setup([
      { content: answers.planner({ send_to: "CodeInterpreter", message: "compute" }), prompt: 1000, completion: 50, cached: 400 },
      { content: answers.python("print(6 * 7)"), prompt: 700, completion: 30 },
      { content: answers.planner({ send_to: "User", message: "42" }), prompt: 1200, completion: 20 },
    ]);
    const events: TaskWeaverEvent[] = [];
    const round = await session.sendMessage("what is 6 * 7?", { onEvent: (event) => events.push(event) });
    expect(round.state).toBe("finished");
    const end = events.at(-1);
    expect(end?.type).toBe("round-end");
    const usage = end?.type === "round-end" ? end.usage : undefined;
    expect(usage).toBeDefined();
    expect(usage).toMatchObject({ inputTokens: 2900, outputTokens: 100, cachedInputTokens: 400, modelCalls: 3, kernelTimeMs: 1 });
    const planner = usage!.lines.find((line) => line.role === "Planner");
    const interpreter = usage!.lines.find((line) => line.role === "CodeInterpreter");
    expect(planner).toMatchObject({ model: "gpt-test", inputTokens: 2200, outputTokens: 70, modelCalls: 2 });
    expect(interpreter).toMatchObject({ model: "gpt-test", inputTokens: 700, outputTokens: 30, modelCalls: 1 });
    // 600 uncached * $2 + 400 cached * $1 + 50 * $10, per million, then the two uncached calls.
    expect(planner!.costUsd).toBeCloseTo((600 * 2 + 400 * 1 + 50 * 10 + 1200 * 2 + 20 * 10) / 1e6, 12);
    expect(interpreter!.costUsd).toBeCloseTo((700 * 2 + 30 * 10) / 1e6, 12);
    expect(usage!.costUsd).toBeCloseTo(planner!.costUsd! + interpreter!.costUsd!, 12);
    expect(session.roundUsage(round.id)).toEqual(usage);
    expect(session.usage).toEqual(usage);
    await app.close();
  });

  it("sums a session's rounds, failed ones included", async () => {
    const { app, session } = await setup([
      { content: answers.planner({ send_to: "User", message: "hello" }), prompt: 100, completion: 10 },
      { content: "not json at all", prompt: 120, completion: 5 },
      { content: "still not json", prompt: 130, completion: 5 },
      { content: "no json either", prompt: 140, completion: 5 },
      { content: "never json", prompt: 150, completion: 5 },
    ]);
    const first = await session.sendMessage("hi");
    const second = await session.sendMessage("again");
    expect(first.state).toBe("finished");
    expect(second.state).toBe("failed");
    const failed = session.roundUsage(second.id)!;
    expect(failed.modelCalls).toBeGreaterThan(0);
    expect(session.usage.modelCalls).toBe(1 + failed.modelCalls);
    expect(session.usage.inputTokens).toBe(100 + failed.inputTokens);
    await app.close();
  });
});

describe("pricing and the summary line", () => {
  it("prices a call per million tokens and leaves unpriced models without a cost", () => {
    expect(costOfCall(pricing, "gpt-test", { promptTokens: 1_000_000, completionTokens: 100_000 })).toBeCloseTo(3, 12);
    expect(costOfCall(pricing, "other", { promptTokens: 10, completionTokens: 10 })).toBeUndefined();
    expect(costOfCall(pricing, "gpt-test", undefined)).toBeUndefined();
  });

  it("formats one line, with the cost only when there is one", () => {
    const round = { id: "r", user_query: "q", state: "finished" as const, post_list: [] };
    const usage = summarizeRoundUsage(
      [
        { role: "Planner", model: "a", usage: { promptTokens: 1000, completionTokens: 200 }, durationMs: 1500, costUsd: 0.0123 },
        { role: "CodeInterpreter", model: "a", usage: { promptTokens: 234, completionTokens: 10 }, durationMs: 600, costUsd: undefined },
      ],
      round,
    );
    expect(formatUsageSummary(usage)).toBe("tokens 1,234 in / 210 out · 2 model calls 2.1 s · kernel 0.0 s · $0.0123");
    expect(formatUsageSummary(addUsage([]))).toBe("tokens 0 in / 0 out · 0 model calls 0.0 s · kernel 0.0 s");
  });
});
