import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { context, metrics, propagation, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type HistogramMetricData,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from "@opentelemetry/sdk-trace-base";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTaskWeaver } from "../app.js";
import type { ExecutionResult } from "../executor/contract.js";
import { createOpenAICompatibleModel } from "../llm/openai-compatible/openai-compatible-chat-model.js";
import { createFakeExecutor } from "../testing/fake-executor.js";
import { answers } from "../testing/scripted-model.js";

const spans = new InMemorySpanExporter();
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const metricReader = new PeriodicExportingMetricReader({
  exporter: metricExporter,
  exportIntervalMillis: 3_600_000,
});
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
const meterProvider = new MeterProvider({ readers: [metricReader] });

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
});

afterAll(async () => {
  await tracerProvider.shutdown();
  await meterProvider.shutdown();
  trace.disable();
  metrics.disable();
  context.disable();
  propagation.disable();
});

const directories: string[] = [];
afterEach(() => {
  spans.reset();
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

interface ScriptedAnswer {
  content: string;
  prompt: number;
  completion: number;
  /** Answer with this HTTP status instead (a failure to retry). */
  status?: number;
}

/** A `fetch` that answers chat completions in order, non-streamed, with the token counts given. */
function scriptedFetch(script: ScriptedAnswer[]): typeof fetch {
  return async () => {
    const next = script.shift();
    if (!next) return new Response("no answer left", { status: 500 });
    if (next.status !== undefined) {
      return new Response(JSON.stringify({ error: { message: "overloaded" } }), {
        status: next.status,
        headers: { "content-type": "application/json" },
      });
    }
    const body = {
      id: `chatcmpl-${script.length}`,
      object: "chat.completion",
      created: 0,
      model: "gpt-test-2026-01-01",
      choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content: next.content } }],
      usage: {
        prompt_tokens: next.prompt,
        completion_tokens: next.completion,
        total_tokens: next.prompt + next.completion,
      },
    };
    return new Response(JSON.stringify(body), { headers: { "content-type": "application/json" } });
  };
}

async function runRound(
  script: ScriptedAnswer[],
  config: Record<string, unknown> = {},
  run: (code: string) => Partial<ExecutionResult> = () => ({ output: "42" }),
) {
  const directory = mkdtempSync(join(tmpdir(), "tw-tracing-"));
  directories.push(directory);
  writeFileSync(join(directory, "taskweaver_config.json"), JSON.stringify(config));
  const languageModel = createOpenAICompatibleModel({
    model: "gpt-test",
    baseUrl: "http://127.0.0.1:9/v1",
    stream: false,
    maxRetries: 2,
    retryBaseDelayMs: 1,
    fetch: scriptedFetch(script),
  });
  const app = await createTaskWeaver({
    appDir: directory,
    env: {},
    languageModel,
    executorFactory: () => createFakeExecutor(run),
  });
  const session = await app.createSession({ warmUp: false });
  const round = await session.sendMessage("what is 6 * 7?");
  await app.close();
  return { round, session, finished: spans.getFinishedSpans() };
}

const computeScript = (): ScriptedAnswer[] => [
  {
    content: answers.planner({ send_to: "CodeInterpreter", message: "compute 6 * 7" }),
    prompt: 1000,
    completion: 50,
  },
  { content: answers.python("print(6 * 7)"), prompt: 700, completion: 30 },
  { content: answers.planner({ send_to: "User", message: "It is 42." }), prompt: 1200, completion: 20 },
];

/** Span names as a tree, children in start order: `["round", ["child", [...]]]`. */
function tree(all: readonly ReadableSpan[], parent: ReadableSpan | undefined = undefined): unknown[] {
  const children = all
    .filter((span) =>
      parent === undefined
        ? span.parentSpanContext === undefined
        : span.parentSpanContext?.spanId === parent.spanContext().spanId,
    )
    .sort((left, right) => left.startTime[0] - right.startTime[0] || left.startTime[1] - right.startTime[1]);
  return children.map((span) => {
    const below = tree(all, span);
    return below.length > 0 ? [span.name, below] : span.name;
  });
}

function named(all: readonly ReadableSpan[], name: string): ReadableSpan[] {
  return all.filter((span) => span.name === name);
}

describe("round tracing", () => {
  it("traces a round as invoke_agent spans of its roles, with plan, chat and execute_tool spans below", async () => {
    const { round, session, finished } = await runRound(computeScript());
    expect(round.state).toBe("finished");
    expect(tree(finished)).toEqual([
      [
        "invoke_agent Planner",
        [
          ["invoke_agent Planner", [["plan Planner", ["chat gpt-test"]]]],
          [
            "invoke_agent CodeInterpreter",
            ["chat gpt-test", "taskweaver.kernel.start", "execute_tool python"],
          ],
          ["invoke_agent Planner", [["plan Planner", ["chat gpt-test"]]]],
        ],
      ],
    ]);
    // One trace from the round down.
    expect(new Set(finished.map((span) => span.spanContext().traceId)).size).toBe(1);

    const roundSpan = finished.find((span) => span.parentSpanContext === undefined)!;
    expect(roundSpan.kind).toBe(SpanKind.INTERNAL);
    expect(roundSpan.attributes).toMatchObject({
      "gen_ai.operation.name": "invoke_agent",
      "gen_ai.agent.name": "Planner",
      "gen_ai.conversation.id": session.id,
      "taskweaver.round.id": round.id,
      "taskweaver.round.state": "finished",
      "gen_ai.usage.input_tokens": 2900,
      "gen_ai.usage.output_tokens": 100,
      "taskweaver.usage.model_calls": 3,
    });
    expect(roundSpan.status.code).not.toBe(SpanStatusCode.ERROR);

    const interpreter = named(finished, "invoke_agent CodeInterpreter")[0]!;
    expect(interpreter.attributes).toMatchObject({
      "gen_ai.agent.name": "CodeInterpreter",
      "gen_ai.conversation.id": session.id,
      "taskweaver.post.send_to": "Planner",
    });

    const chats = named(finished, "chat gpt-test");
    expect(chats).toHaveLength(3);
    for (const chat of chats) expect(chat.kind).toBe(SpanKind.CLIENT);
    expect(chats.map((chat) => chat.attributes["gen_ai.usage.input_tokens"]).sort()).toEqual([
      1000, 1200, 700,
    ]);
    expect(chats[0]!.attributes).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-test",
      "gen_ai.response.model": "gpt-test-2026-01-01",
      "gen_ai.output.type": "json",
      "gen_ai.response.finish_reasons": ["stop"],
      "server.address": "127.0.0.1",
      "server.port": 9,
    });
    expect(typeof chats[0]!.attributes["gen_ai.response.time_to_first_chunk"]).toBe("number");
    expect(chats[0]!.attributes["gen_ai.response.id"]).toMatch(/^chatcmpl-/);

    const execution = named(finished, "execute_tool python")[0]!;
    expect(execution.attributes).toMatchObject({
      "gen_ai.operation.name": "execute_tool",
      "gen_ai.tool.name": "python",
      "gen_ai.tool.type": "extension",
      "taskweaver.executor.kind": "fake",
      "taskweaver.execution.outcome": "ok",
      "taskweaver.execution.success": true,
      "taskweaver.execution.output_chars": 2,
    });

    // Content stays off the spans by default.
    for (const span of finished) {
      for (const key of Object.keys(span.attributes)) {
        expect(key).not.toMatch(/messages|instructions|tool\.call\.(arguments|result)/);
      }
    }
  });

  it("records prompts, answers, code and output only with tracing.record_content, and verification as an event", async () => {
    const { finished } = await runRound(computeScript(), {
      "tracing.record_content": true,
      "code_interpreter.code_verification_on": true,
    });
    const roundSpan = finished.find((span) => span.parentSpanContext === undefined)!;
    expect(JSON.parse(roundSpan.attributes["gen_ai.input.messages"] as string)).toEqual([
      { role: "user", parts: [{ type: "text", content: "what is 6 * 7?" }] },
    ]);
    expect(JSON.parse(roundSpan.attributes["gen_ai.output.messages"] as string)).toEqual([
      { role: "assistant", parts: [{ type: "text", content: "It is 42." }], finish_reason: "stop" },
    ]);

    const chat = named(finished, "chat gpt-test")[1]!;
    expect(chat.attributes["gen_ai.system_instructions"]).toEqual(expect.stringContaining("CodeInterpreter"));
    const input = JSON.parse(chat.attributes["gen_ai.input.messages"] as string) as {
      role: string;
      parts: { content: string }[];
    }[];
    expect(input.at(-1)!.parts[0]!.content).toContain("compute 6 * 7");
    const output = JSON.parse(chat.attributes["gen_ai.output.messages"] as string) as {
      parts: { content: string }[];
    }[];
    expect(output[0]!.parts[0]!.content).toContain("print(6 * 7)");

    const execution = named(finished, "execute_tool python")[0]!;
    expect(execution.attributes["gen_ai.tool.call.arguments"]).toBe("print(6 * 7)");
    expect(JSON.parse(execution.attributes["gen_ai.tool.call.result"] as string)).toMatchObject({
      output: "42",
    });

    const interpreter = named(finished, "invoke_agent CodeInterpreter")[0]!;
    expect(interpreter.events.map((event) => [event.name, event.attributes])).toContainEqual([
      "taskweaver.code.verification",
      { "taskweaver.verification.result": "CORRECT", "taskweaver.verification.problems": 0 },
    ]);
  });

  it("shows a retried model call as one chat span with a retry event", async () => {
    const script = computeScript();
    script.unshift({ content: "", prompt: 0, completion: 0, status: 503 });
    const { round, finished } = await runRound(script);
    expect(round.state).toBe("finished");
    const first = named(finished, "chat gpt-test").sort(
      (left, right) =>
        left.startTime[1] - right.startTime[1] + (left.startTime[0] - right.startTime[0]) * 1e9,
    )[0]!;
    expect(first.events.map((event) => event.name)).toEqual(["taskweaver.model.retry"]);
    expect(first.events[0]!.attributes).toMatchObject({
      "taskweaver.retry.number": 1,
      "http.response.status_code": 503,
    });
    expect(first.status.code).not.toBe(SpanStatusCode.ERROR);
  });

  it("marks a failed execution and a failed round as errors", async () => {
    const script: ScriptedAnswer[] = [
      {
        content: answers.planner({ send_to: "CodeInterpreter", message: "divide" }),
        prompt: 10,
        completion: 5,
      },
      ...Array.from({ length: 4 }, () => ({ content: answers.python("1 / 0"), prompt: 10, completion: 5 })),
      { content: answers.planner({ send_to: "User", message: "It failed." }), prompt: 10, completion: 5 },
    ];
    const { finished } = await runRound(script, {}, () => ({
      isSuccess: false,
      outcome: "error",
      error: { name: "ZeroDivisionError", value: "division by zero", traceback: "" },
    }));
    const executions = named(finished, "execute_tool python");
    expect(executions.length).toBeGreaterThan(0);
    expect(executions[0]!.status.code).toBe(SpanStatusCode.ERROR);
    expect(executions[0]!.attributes["error.type"]).toBe("ZeroDivisionError");

    spans.reset();
    const failing = await runRound([
      { content: "not json", prompt: 1, completion: 1 },
      { content: "nope", prompt: 1, completion: 1 },
      { content: "no", prompt: 1, completion: 1 },
      { content: "never", prompt: 1, completion: 1 },
    ]);
    expect(failing.round.state).toBe("failed");
    const roundSpan = failing.finished.find((span) => span.parentSpanContext === undefined)!;
    expect(roundSpan.status.code).toBe(SpanStatusCode.ERROR);
    expect(roundSpan.attributes["taskweaver.round.state"]).toBe("failed");
    expect(roundSpan.attributes["error.type"]).toEqual(expect.any(String));
  });

  it("keeps the caller's active span as the round's parent", async () => {
    const outer = trace.getTracer("test").startSpan("POST /sessions/{id}/messages");
    await context.with(trace.setSpan(context.active(), outer), () => runRound(computeScript()));
    outer.end();
    const finished = spans.getFinishedSpans();
    const roundSpan = finished.find(
      (span) =>
        span.name === "invoke_agent Planner" && span.parentSpanContext?.spanId === outer.spanContext().spanId,
    );
    expect(roundSpan).toBeDefined();
    expect(new Set(finished.map((span) => span.spanContext().traceId))).toEqual(
      new Set([outer.spanContext().traceId]),
    );
  });
});

describe("GenAI client metrics", () => {
  it("records token usage by type and the duration of each model call", async () => {
    await runRound(computeScript());
    await metricReader.forceFlush();
    const exported = metricExporter.getMetrics().at(-1)!;
    const all = exported.scopeMetrics.flatMap((scope) => scope.metrics);
    const tokens = all.find(
      (metric) => metric.descriptor.name === "gen_ai.client.token.usage",
    ) as HistogramMetricData;
    expect(tokens.descriptor.unit).toBe("{token}");
    const byType = Object.fromEntries(
      tokens.dataPoints.map((point) => [point.attributes["gen_ai.token.type"], point.value.sum]),
    );
    // At least this round's calls (earlier tests of the file add to the cumulative sums).
    expect(byType["input"]).toBeGreaterThanOrEqual(2900);
    expect(byType["output"]).toBeGreaterThanOrEqual(100);
    expect(tokens.dataPoints[0]!.attributes).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-test",
      "gen_ai.response.model": "gpt-test-2026-01-01",
    });
    const duration = all.find(
      (metric) => metric.descriptor.name === "gen_ai.client.operation.duration",
    ) as HistogramMetricData;
    expect(duration.descriptor.unit).toBe("s");
    expect(duration.dataPoints.reduce((sum, point) => sum + point.value.count, 0)).toBeGreaterThanOrEqual(3);
  });
});
