// Traces and GenAI metrics end to end: the real CLI process and the real API server export over
// OTLP/HTTP (JSON and protobuf) to a receiver on 127.0.0.1 that the test starts, while the real
// OpenAI client talks to the fake model server and a real Python kernel runs the code. One trace
// must run from the API request (child of the caller's traceparent) through the round, its role
// replies and model calls down to the code executions.
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createTestAppDir,
  plannerAnswer,
  pythonAnswer,
  runCli,
  startFakeOpenAIServer,
  startTestApiServer,
  type FakeOpenAIServer,
  type TestAppDir,
} from "../src/index.js";
import { spanPaths, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "./tracing-receiver.js";

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const STATUS_ERROR = 2;

let model: FakeOpenAIServer;
let receiver: OtlpReceiver;
const appDirs: TestAppDir[] = [];

beforeAll(async () => {
  model = await startFakeOpenAIServer({ chunkSize: 16 });
});
afterAll(async () => {
  await model?.close();
});
afterEach(async () => {
  await receiver?.close();
  for (const dir of appDirs.splice(0)) dir.remove();
});

function appDir(config: Record<string, unknown> = {}) {
  const dir = createTestAppDir({
    config: { "llm.api_base": model.url, "llm.api_key": "test-key", "llm.model": "fake-model", ...config },
  });
  appDirs.push(dir);
  return dir;
}

function scriptedRound(answer: string) {
  return [
    { content: plannerAnswer("CodeInterpreter", "Compute 6 * 7 in Python."), usage: { promptTokens: 1200, completionTokens: 80 } },
    { content: pythonAnswer("product = 6 * 7\nprint(product)"), usage: { promptTokens: 900, completionTokens: 40 } },
    { content: plannerAnswer("User", answer), usage: { promptTokens: 1500, completionTokens: 30 } },
  ];
}

function only(spans: readonly ReceivedSpan[], name: string): ReceivedSpan {
  const found = spans.filter((span) => span.name === name);
  expect(found.map((span) => span.name), `exactly one span ${name} in ${spans.map((span) => span.name).join(", ")}`).toEqual([name]);
  return found[0]!;
}

/** The round's own structure, the same from both frontends. */
function expectRoundStructure(trace: readonly ReceivedSpan[], prefix: string) {
  const paths = spanPaths(trace);
  const round = `${prefix}invoke_agent Planner`;
  expect(paths).toEqual(
    expect.arrayContaining([
      round,
      `${round} > invoke_agent Planner > plan Planner > chat fake-model`,
      `${round} > invoke_agent CodeInterpreter > chat fake-model`,
      `${round} > invoke_agent CodeInterpreter > execute_tool python`,
    ]),
  );
  const chats = trace.filter((span) => span.name === "chat fake-model");
  expect(chats).toHaveLength(3);
  for (const chat of chats) {
    expect(chat.kind).toBe(SPAN_KIND_CLIENT);
    expect(chat.attributes).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "fake-model",
      "gen_ai.response.model": "fake-model",
      "gen_ai.response.finish_reasons": ["stop"],
    });
    expect(chat.attributes["gen_ai.response.time_to_first_chunk"]).toEqual(expect.any(Number));
  }
  expect(chats.map((chat) => chat.attributes["gen_ai.usage.input_tokens"]).sort()).toEqual([1200, 1500, 900]);
  expect(chats.map((chat) => chat.attributes["gen_ai.usage.output_tokens"]).sort()).toEqual([30, 40, 80]);

  const execution = only(trace, "execute_tool python");
  expect(execution.attributes).toMatchObject({
    "gen_ai.operation.name": "execute_tool",
    "gen_ai.tool.name": "python",
    "taskweaver.executor.kind": "local",
    "taskweaver.execution.outcome": "ok",
    "taskweaver.execution.success": true,
  });
  // The kernel printed "42\n".
  expect(execution.attributes["taskweaver.execution.output_chars"]).toBeGreaterThanOrEqual(3);
  expect(execution.attributes["taskweaver.execution.duration_ms"]).toBeGreaterThan(0);
  // Prompts and code stay off the spans unless tracing.record_content is on.
  for (const span of trace) expect(Object.keys(span.attributes).join(" ")).not.toMatch(/messages|tool\.call\.arguments/);
}

describe("tracing over OTLP/HTTP", { timeout: 180_000 }, () => {
  it("exports the CLI's round, model calls and execution as one trace, with the GenAI metrics (http/json)", async () => {
    receiver = await startOtlpReceiver();
    const dir = appDir();
    model.enqueue(...scriptedRound("6 * 7 is 42."));
    const run = await runCli(["chat", "-p", dir.path], {
      input: ["what is 6 * 7?"],
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_SERVICE_NAME: "tw-cli-test",
      },
    });
    expect(run.exitCode, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toContain("TaskWeaver: 6 * 7 is 42.");
    expect(receiver.requests).toContain("/v1/traces application/json");
    expect(receiver.requests).toContain("/v1/metrics application/json");

    const round = receiver.spans.find((span) => span.name === "invoke_agent Planner" && span.parentSpanId === "")!;
    expect(round, spanPaths(receiver.spans).join("\n")).toBeDefined();
    expect(round.resource["service.name"]).toBe("tw-cli-test");
    expect(round.scope).toBe("@taskweaver/core");
    expect(round.attributes).toMatchObject({
      "gen_ai.operation.name": "invoke_agent",
      "gen_ai.agent.name": "Planner",
      "taskweaver.round.state": "finished",
      "gen_ai.usage.input_tokens": 3600,
      "gen_ai.usage.output_tokens": 150,
    });
    expect(round.attributes["gen_ai.conversation.id"]).toEqual(expect.any(String));
    const trace = receiver.spans.filter((span) => span.traceId === round.traceId);
    expectRoundStructure(trace, "");

    const tokens = receiver.histogramPoints.filter((point) => point.metric === "gen_ai.client.token.usage");
    expect(tokens.length).toBeGreaterThan(0);
    expect(tokens[0]!.unit).toBe("{token}");
    const sum = (type: string) =>
      tokens.filter((point) => point.attributes["gen_ai.token.type"] === type).reduce((total, point) => total + (point.sum ?? 0), 0);
    expect(sum("input")).toBe(3600);
    expect(sum("output")).toBe(150);
    const durations = receiver.histogramPoints.filter((point) => point.metric === "gen_ai.client.operation.duration");
    expect(durations.reduce((total, point) => total + point.count, 0)).toBe(3);
    expect(durations[0]!.unit).toBe("s");
  });

  it("puts the API request, its round, model calls (a retry included) and execution in the caller's trace (http/protobuf)", async () => {
    receiver = await startOtlpReceiver();
    const dir = appDir();
    const server = await startTestApiServer(dir.path, {
      configOverrides: { "tracing.enabled": true, "tracing.endpoint": receiver.url, "tracing.protocol": "http/protobuf" },
    });
    const traceId = randomBytes(16).toString("hex");
    const callerSpanId = randomBytes(8).toString("hex");
    let sessionId = "";
    try {
      const api = (path: string) => `${server.url}/api/v1${path}`;
      const created = await fetch(api("/sessions"), { method: "POST" });
      expect(created.status).toBe(201);
      sessionId = ((await created.json()) as { id: string }).id;
      // The first model call is rate limited once: the retry shows on its chat span.
      model.enqueue({ status: 429 }, ...scriptedRound("42."));
      const response = await fetch(api(`/sessions/${sessionId}/messages`), {
        method: "POST",
        headers: { "content-type": "application/json", traceparent: `00-${traceId}-${callerSpanId}-01` },
        body: JSON.stringify({ message: "what is 6 * 7?" }),
      });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { state: string }).state).toBe("finished");
    } finally {
      // Closing flushes the batched spans.
      await server.close(5_000);
    }
    expect(receiver.requests).toContain("/v1/traces application/x-protobuf");
    expect(receiver.requests).toContain("/v1/metrics application/x-protobuf");

    const trace = receiver.spans.filter((span) => span.traceId === traceId);
    const request = trace.find((span) => span.kind === SPAN_KIND_SERVER)!;
    expect(request, spanPaths(receiver.spans).join("\n")).toBeDefined();
    expect(request.parentSpanId).toBe(callerSpanId);
    expect(request.name).toBe("POST /api/v1/sessions/:id/messages");
    expect(request.attributes).toMatchObject({
      "http.request.method": "POST",
      "http.route": "/api/v1/sessions/:id/messages",
      "http.response.status_code": 200,
    });
    expect(request.resource["service.name"]).toBe("taskweaver-api");

    const round = trace.find((span) => span.name === "invoke_agent Planner" && span.parentSpanId === request.spanId)!;
    expect(round, spanPaths(trace).join("\n")).toBeDefined();
    expect(round.attributes["gen_ai.conversation.id"]).toBe(sessionId);
    expectRoundStructure(trace, `${request.name} > `);

    const retried = trace.filter((span) => span.name === "chat fake-model" && span.events.length > 0);
    expect(retried).toHaveLength(1);
    expect(retried[0]!.events[0]).toMatchObject({
      name: "taskweaver.model.retry",
      attributes: { "taskweaver.retry.number": 1, "http.response.status_code": 429 },
    });
    expect(retried[0]!.statusCode).not.toBe(STATUS_ERROR);

    // The session's own request is another trace, with the kernel's start in it.
    const sessionRequest = receiver.spans.find((span) => span.name === "POST /api/v1/sessions")!;
    expect(sessionRequest).toBeDefined();
    expect(sessionRequest.traceId).not.toBe(traceId);
  });

  it("at tracing.sample_ratio 0 exports only the traces a caller sampled, and every metric (http/json)", async () => {
    receiver = await startOtlpReceiver();
    const dir = appDir();
    const server = await startTestApiServer(dir.path, {
      configOverrides: {
        "tracing.enabled": true,
        "tracing.endpoint": receiver.url,
        "tracing.protocol": "http/json",
        "tracing.sample_ratio": 0,
      },
    });
    const sampledTrace = randomBytes(16).toString("hex");
    const unsampledTrace = randomBytes(16).toString("hex");
    try {
      const api = (path: string) => `${server.url}/api/v1${path}`;
      const created = await fetch(api("/sessions"), { method: "POST" });
      expect(created.status).toBe(201);
      const sessionId = ((await created.json()) as { id: string }).id;
      const send = async (traceparent: string, answer: string) => {
        model.enqueue(...scriptedRound(answer));
        const response = await fetch(api(`/sessions/${sessionId}/messages`), {
          method: "POST",
          headers: { "content-type": "application/json", traceparent },
          body: JSON.stringify({ message: "what is 6 * 7?" }),
        });
        expect(response.status).toBe(200);
        expect(((await response.json()) as { state: string }).state).toBe("finished");
      };
      await send(`00-${unsampledTrace}-${randomBytes(8).toString("hex")}-00`, "42, not traced.");
      await send(`00-${sampledTrace}-${randomBytes(8).toString("hex")}-01`, "42, traced.");
    } finally {
      await server.close(5_000);
    }
    // The session's own request and the round its caller did not sample are not exported.
    expect(receiver.spans.map((span) => span.traceId)).not.toContain(unsampledTrace);
    expect(receiver.spans.find((span) => span.name === "POST /api/v1/sessions")).toBeUndefined();
    const trace = receiver.spans.filter((span) => span.traceId === sampledTrace);
    expect(trace.length).toBe(receiver.spans.length);
    expectRoundStructure(trace, "POST /api/v1/sessions/:id/messages > ");
    // Metrics are not sampled: both rounds' six model calls are counted.
    expect(receiver.requests).toContain("/v1/metrics application/json");
    const durations = receiver.histogramPoints.filter((point) => point.metric === "gen_ai.client.operation.duration");
    expect(durations.reduce((total, point) => total + point.count, 0)).toBe(6);
  });
});
