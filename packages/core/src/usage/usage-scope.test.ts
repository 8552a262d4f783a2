import { setTimeout as sleep } from "node:timers/promises";
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { afterEach, describe, expect, it } from "vitest";
import { reportModelCall, runWithModelCallSink, type ModelCallReport } from "./usage-scope.js";

afterEach(() => {
  context.disable();
});

function call(model: string): ModelCallReport {
  return { model, usage: { promptTokens: 1, completionTokens: 1 }, durationMs: 1, costUsd: undefined };
}

/** Two replies at once, each reporting after awaits, as sessions of the API do. */
async function twoConcurrentReplies() {
  const first: string[] = [];
  const second: string[] = [];
  const reply = async (model: string) => {
    await sleep(2);
    reportModelCall(call(model));
    await Promise.resolve();
    reportModelCall(call(model));
  };
  await Promise.all([
    runWithModelCallSink((report) => first.push(report.model), () => reply("a")),
    runWithModelCallSink((report) => second.push(report.model), () => reply("b")),
  ]);
  // Outside a scope a report goes nowhere and breaks nothing.
  reportModelCall(call("c"));
  return { first, second };
}

describe("model call sinks", () => {
  it("reach each reply's own sink across awaits without a context manager", async () => {
    expect(await twoConcurrentReplies()).toEqual({ first: ["a", "a"], second: ["b", "b"] });
  });

  it("reach each reply's own sink when the app registered an OpenTelemetry context manager", async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    expect(await twoConcurrentReplies()).toEqual({ first: ["a", "a"], second: ["b", "b"] });
  });

  it("keep working when the context manager comes and goes between and during scopes", async () => {
    expect(await twoConcurrentReplies()).toEqual({ first: ["a", "a"], second: ["b", "b"] });
    const reports: string[] = [];
    // A scope opened before the SDK starts keeps its sink after it started.
    const before = runWithModelCallSink(
      (report) => reports.push(report.model),
      async () => {
        await sleep(2);
        reportModelCall(call("before"));
      },
    );
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    expect(await twoConcurrentReplies()).toEqual({ first: ["a", "a"], second: ["b", "b"] });
    await before;
    expect(reports).toEqual(["before"]);
    context.disable();
    expect(await twoConcurrentReplies()).toEqual({ first: ["a", "a"], second: ["b", "b"] });
  });

  it("nest: the innermost sink gets the call", async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    const outer: string[] = [];
    const inner: string[] = [];
    await runWithModelCallSink(
      (report) => outer.push(report.model),
      async () => {
        await runWithModelCallSink((report) => inner.push(report.model), async () => reportModelCall(call("inner")));
        reportModelCall(call("outer"));
      },
    );
    expect({ outer, inner }).toEqual({ outer: ["outer"], inner: ["inner"] });
  });
});
