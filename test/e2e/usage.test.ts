// Round usage end to end: the real OpenAI client reads the token counts the fake model server
// reports, the core sums them per role and prices them from `llm.pricing`, and the frontends
// show them: the CLI transcript's end line and the API's round JSON, round-end event and
// session totals. A real Python kernel runs the code, so the kernel time is measured, not faked.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RoundUsage, TaskWeaverEvent } from "@taskweaver/core";
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

const PRICING = { "fake-model": { input: 2.5, output: 10 } };

/** One planner round with the token counts the server reports for each answer. */
function scriptedRound(answer: string) {
  return [
    { content: plannerAnswer("CodeInterpreter", "Compute 6 * 7 in Python."), usage: { promptTokens: 1200, completionTokens: 80 } },
    { content: pythonAnswer("product = 6 * 7\nproduct"), usage: { promptTokens: 900, completionTokens: 40 } },
    { content: plannerAnswer("User", answer), usage: { promptTokens: 1500, completionTokens: 30 } },
  ];
}

/** What `scriptedRound` must add up to. */
const EXPECTED = {
  inputTokens: 3600,
  outputTokens: 150,
  modelCalls: 3,
  planner: { inputTokens: 2700, outputTokens: 110, modelCalls: 2 },
  interpreter: { inputTokens: 900, outputTokens: 40, modelCalls: 1 },
  costUsd: (3600 * 2.5 + 150 * 10) / 1e6,
};

function expectRoundUsage(usage: RoundUsage | undefined) {
  expect(usage).toBeDefined();
  expect(usage).toMatchObject({ inputTokens: EXPECTED.inputTokens, outputTokens: EXPECTED.outputTokens, modelCalls: 3 });
  expect(usage!.lines.find((line) => line.role === "Planner")).toMatchObject({ model: "fake-model", ...EXPECTED.planner });
  expect(usage!.lines.find((line) => line.role === "CodeInterpreter")).toMatchObject({ model: "fake-model", ...EXPECTED.interpreter });
  expect(usage!.costUsd).toBeCloseTo(EXPECTED.costUsd, 12);
  expect(usage!.modelTimeMs).toBeGreaterThan(0);
  // The kernel really ran the code.
  expect(usage!.kernelTimeMs).toBeGreaterThan(0);
}

let model: FakeOpenAIServer;
const appDirs: TestAppDir[] = [];

beforeAll(async () => {
  model = await startFakeOpenAIServer({ chunkSize: 16 });
});
afterAll(async () => {
  await model?.close();
});
afterEach(() => {
  for (const dir of appDirs.splice(0)) dir.remove();
});

function appDir() {
  const dir = createTestAppDir({
    config: { "llm.api_base": model.url, "llm.api_key": "test-key", "llm.model": "fake-model", "llm.pricing": PRICING },
  });
  appDirs.push(dir);
  return dir;
}

describe("round usage", { timeout: 180_000 }, () => {
  it("ends each round of the transcript with its tokens, calls, times and cost", async () => {
    const dir = appDir();
    model.enqueue(...scriptedRound("6 * 7 is 42."));
    const run = await runCli(["chat", "-p", dir.path], { input: ["what is 6 * 7?"] });
    expect(run.exitCode, run.stderr + run.stdout).toBe(0);
    const line = run.stdout.split("\n").find((text) => text.startsWith("[usage] "));
    expect(line, run.stdout).toMatch(
      /^\[usage\] tokens 3,600 in \/ 150 out · 3 model calls \d+\.\d s · kernel \d+\.\d s · \$0\.0105$/,
    );
    // The usage line comes after the answer.
    expect(run.stdout.indexOf("TaskWeaver: 6 * 7 is 42.")).toBeLessThan(run.stdout.indexOf("[usage] "));
  });

  it("puts usage on the API's round JSON and round-end event, and sums it in the session", async () => {
    const dir = appDir();
    const server = await startTestApiServer(dir.path);
    try {
      const api = (path: string) => `${server.url}/api/v1${path}`;
      const created = await fetch(api("/sessions"), { method: "POST" });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      const send = async (message: string) => {
        const response = await fetch(api(`/sessions/${id}/messages`), {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ message }),
        });
        expect(response.status).toBe(200);
        return (await response.json()) as { id: string; state: string; usage?: RoundUsage };
      };
      model.enqueue(...scriptedRound("42."), ...scriptedRound("Still 42."));
      const first = await send("what is 6 * 7?");
      const second = await send("and again?");
      expect(first.state).toBe("finished");
      expectRoundUsage(first.usage);
      expectRoundUsage(second.usage);

      const events = (await (await fetch(api(`/sessions/${id}/events`))).json()) as {
        events: { event: TaskWeaverEvent }[];
      };
      const ends = events.events.map((item) => item.event).filter((event) => event.type === "round-end");
      expect(ends).toHaveLength(2);
      expect(ends[0]!.type === "round-end" ? ends[0]!.usage : undefined).toEqual(first.usage);

      const detail = (await (await fetch(api(`/sessions/${id}`))).json()) as {
        rounds: { id: string; usage?: RoundUsage }[];
        usage: RoundUsage;
        kernel?: { kind: string; forked: boolean; memory?: { pss_bytes: number; uss_bytes: number; rss_bytes: number } };
      };
      // The kernel that ran the code, and its memory read from /proc for this answer.
      expect(detail.kernel).toMatchObject({ kind: "local", forked: false });
      expect(detail.kernel!.memory!.uss_bytes).toBeGreaterThan(0);
      expect(detail.kernel!.memory!.pss_bytes).toBeGreaterThanOrEqual(detail.kernel!.memory!.uss_bytes);
      expect(detail.kernel!.memory!.rss_bytes).toBeGreaterThanOrEqual(detail.kernel!.memory!.pss_bytes);
      expect(detail.rounds.map((round) => round.usage)).toEqual([first.usage, second.usage]);
      expect(detail.usage).toMatchObject({ inputTokens: 7200, outputTokens: 300, modelCalls: 6 });
      expect(detail.usage.kernelTimeMs).toBeCloseTo(first.usage!.kernelTimeMs + second.usage!.kernelTimeMs, 6);
      expect(detail.usage.costUsd).toBeCloseTo(2 * EXPECTED.costUsd, 12);
      expect(detail.usage.lines.find((line) => line.role === "Planner")).toMatchObject({ inputTokens: 5400, modelCalls: 4 });
    } finally {
      await server.close(5_000);
    }
  });
});
