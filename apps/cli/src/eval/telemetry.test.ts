import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, expect, it } from "vitest";
import { summarize } from "./scoring.js";
import { emitCaseScore, emitPointResult, EVALUATION_EVENT, withCaseSpan } from "./telemetry.js";

const exporter = new InMemorySpanExporter();
const contextManager = new AsyncLocalStorageContextManager();
beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
});
afterAll(() => {
  trace.disable();
  context.disable();
});

it("emits each score as a gen_ai.evaluation.result event on the case's active span", async () => {
  const points = [
    { scorePoint: "mean is right", weight: 2, judgedBy: "model" as const, isHit: true, reason: "says 78172.75" },
    { scorePoint: "file written", weight: 1, judgedBy: "code" as const, isHit: false, reason: "eval_code failed: AssertionError" },
  ];
  await withCaseSpan("calc/calc.yaml", async () => {
    // Nested work (the session's spans) sees the case span as its parent.
    await Promise.resolve();
    for (const point of points) emitPointResult("calc/calc.yaml", point);
    emitCaseScore("calc/calc.yaml", summarize(points));
  });
  const [span] = exporter.getFinishedSpans();
  expect(span!.name).toBe("evaluate calc/calc.yaml");
  const events = span!.events.filter((event) => event.name === EVALUATION_EVENT);
  expect(events.map((event) => event.attributes)).toEqual([
    expect.objectContaining({
      "gen_ai.evaluation.name": "mean is right",
      "gen_ai.evaluation.score.value": 2,
      "gen_ai.evaluation.score.label": "hit",
      "gen_ai.evaluation.explanation": "says 78172.75",
      "taskweaver.eval.judged_by": "model",
    }),
    expect.objectContaining({ "gen_ai.evaluation.name": "file written", "gen_ai.evaluation.score.value": 0, "gen_ai.evaluation.score.label": "miss" }),
    expect.objectContaining({ "gen_ai.evaluation.name": "normalized_score", "gen_ai.evaluation.score.value": 2 / 3 }),
  ]);
});

it("marks the case span as failed when the case cannot run", async () => {
  exporter.reset();
  await expect(withCaseSpan("broken.yaml", () => Promise.reject(new Error("no app")))).rejects.toThrow("no app");
  const [span] = exporter.getFinishedSpans();
  expect(span!.status).toMatchObject({ code: 2, message: "no app" });
});
