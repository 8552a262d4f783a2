// What tracing costs a round: the framework's own time for a full planner round (User ->
// Planner -> CodeInterpreter -> Planner -> User, 11 spans and 9 histogram records) with an
// instant in-process model and an instant executor, tracing off (no SDK: the core's spans are
// no-ops) and on (the real SDK, batched into an exporter that keeps nothing, with the GenAI
// metrics read in memory), in short alternating blocks of one run so that the load of a shared
// machine falls on both alike. Target: at most 10% more framework time per round with tracing on.
//
// Two more kinds of block take the cost apart: the SDK started with its spans and metrics
// unregistered (what the context manager costs) and with its metrics unregistered (what the
// spans add). Every kind is warmed up before anything is measured: a process that traces runs
// its traced paths long enough for the JIT to optimise them, and a warm-up of untraced rounds
// only would charge that to tracing. For the same reason the first round of each block (the
// first after the SDK started or stopped) is not counted. The figure is the median over the
// cycles of the ratio of neighbouring blocks, which a load that comes and goes moves less than
// a ratio of p50s over the whole run (printed too).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { metrics, trace } from "@opentelemetry/api";
import type { ExportResult } from "@opentelemetry/core";
import { AggregationTemporality, InMemoryMetricExporter, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";
import { createTaskWeaver, loadConfig, type ChatRequest, type ChatStreamPart, type LanguageModel } from "@taskweaver/core";
import { startTelemetry, type Telemetry } from "@taskweaver/telemetry";
import { createFakeExecutor } from "../../packages/core/src/testing/fake-executor.js";
import { formatMs, percentile, recordFigure } from "./stats.js";

/** Cycles of one block of each kind; the first ones warm up and are not counted. */
const CYCLES = 48;
const WARM_UP_CYCLES = 3;
const ROUNDS_PER_BLOCK = 8;

/** Off; the SDK with neither spans nor metrics; with spans only; all of it (on). */
const KINDS = ["off", "context", "spans", "on"] as const;
type Kind = (typeof KINDS)[number];

const answer = (response: Record<string, string>) => JSON.stringify({ response });
const plan = {
  plan_reasoning: "The user wants a sum; the CodeInterpreter can compute it.",
  init_plan: "1. load the data\n2. sum the revenue <depends on 1>\n3. report <depends on 2>",
  plan: "1. load the data and sum the revenue\n2. report",
};
const script = [
  answer({ ...plan, current_plan_step: "1. load the data and sum the revenue", stop: "InProcess", send_to: "CodeInterpreter", message: "Load demo_data.csv and compute the total revenue." }),
  answer({
    thought: "Read the CSV with pandas and sum the column.",
    reply_type: "python",
    reply_content: "import pandas as pd\ndf = pd.read_csv('demo_data.csv')\ntotal = df['revenue'].sum()\ntotal",
  }),
  answer({ ...plan, current_plan_step: "2. report", stop: "Completed", send_to: "User", message: "The total revenue is 123456.78." }),
];

/** Counts what it is given and keeps nothing, like a fast collector. */
function countingExporter(): SpanExporter & { count: number } {
  return {
    count: 0,
    export(spans: ReadableSpan[], done: (result: ExportResult) => void) {
      this.count += spans.length;
      done({ code: 0 });
    },
    shutdown: async () => {},
  };
}

export async function run(): Promise<void> {
  let outside = 0; // time spent inside the model and the executor
  let turn = 0;
  const model: LanguageModel = {
    modelId: "instant",
    provider: { name: "openai", serverAddress: "127.0.0.1", serverPort: 8000 },
    usage: [],
    async *streamChat(_request: ChatRequest): AsyncIterable<ChatStreamPart> {
      const started = performance.now();
      const text = script[turn++ % 3]!;
      const pieces: string[] = [];
      for (let index = 0; index < text.length; index += 8) pieces.push(text.slice(index, index + 8));
      outside += performance.now() - started;
      for (const piece of pieces) yield { type: "text-delta", text: piece };
      yield { type: "finish", finishReason: "stop", usage: { promptTokens: 1000, completionTokens: 50, totalTokens: 1050 } };
    },
    async embed(texts) {
      return texts.map(() => []);
    },
  };
  const executor = createFakeExecutor(() => ({ output: "123456.78" }));
  const appDir = mkdtempSync(join(tmpdir(), "tw-bench-tracing-"));
  writeFileSync(join(appDir, "taskweaver_config.json"), "{}");
  const config = loadConfig({ appDir, env: {} });
  const exporter = countingExporter();
  let exportedRounds = 0;
  let exportedSpans = 0;
  try {
    const app = await createTaskWeaver({ appDir, env: {}, languageModel: model, executorFactory: () => executor });
    const round = async (): Promise<number> => {
      const session = await app.createSession({ warmUp: false });
      outside = 0;
      const started = performance.now();
      const result = await session.sendMessage("what is the total revenue?");
      const elapsed = performance.now() - started - outside;
      if (result.state !== "finished") throw new Error(`round failed: ${session.lastError?.message}`);
      await session.stop();
      return elapsed;
    };
    const times: Record<Kind, number[]> = { off: [], context: [], spans: [], on: [] };
    // p50 of each counted block, by kind, in cycle order.
    const blocks: Record<Kind, number[]> = { off: [], context: [], spans: [], on: [] };
    for (let cycle = 0; cycle < CYCLES; cycle += 1) {
      for (const kind of KINDS) {
        let telemetry: Telemetry | undefined;
        if (kind !== "off") {
          telemetry = await startTelemetry({
            config,
            env: {},
            defaultServiceName: "bench",
            spanExporter: exporter,
            metricReader: new PeriodicExportingMetricReader({
              exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
              exportIntervalMillis: 3_600_000,
            }),
          });
          // Unregistered, the core's spans and records are no-ops again; shutdown does it anyway.
          if (kind === "context") trace.disable();
          if (kind !== "on") metrics.disable();
        }
        const spansBefore = exporter.count;
        const block: number[] = [];
        for (let index = 0; index < ROUNDS_PER_BLOCK; index += 1) {
          const elapsed = await round();
          if (index > 0) block.push(elapsed);
        }
        if (cycle >= WARM_UP_CYCLES) {
          times[kind].push(...block);
          blocks[kind].push(percentile(block, 50));
        }
        if (telemetry) await telemetry.shutdown();
        if (kind === "on" && cycle >= WARM_UP_CYCLES) {
          exportedRounds += ROUNDS_PER_BLOCK;
          exportedSpans += exporter.count - spansBefore;
        }
      }
    }
    await app.close();
    const off = percentile(times.off, 50);
    const on = percentile(times.on, 50);
    // Per cycle, what a kind adds to another of the same cycle, as a share of the off block.
    const added = (kind: Kind, base: Kind = "off") =>
      percentile(blocks[kind].map((value, cycle) => (value - blocks[base][cycle]!) / blocks.off[cycle]!), 50) * 100;
    const signed = (value: number) => `${value >= 0 ? "+" : ""}${value.toFixed(1)}%`;
    const overhead = added("on");
    console.log(`framework time per planner round, ${times.off.length} rounds each, model and kernel excluded:`);
    console.log(`  tracing off: p50 ${formatMs(off)}   p99 ${formatMs(percentile(times.off, 99))}`);
    console.log(`  tracing on:  p50 ${formatMs(on)}   p99 ${formatMs(percentile(times.on, 99))}   (in-memory exporter, batched)`);
    console.log(
      `  overhead: ${signed(overhead)} (median over ${blocks.off.length} cycles; ${signed(((on - off) / off) * 100)} between the p50s), ${(on - off).toFixed(3)} ms a round (target: <= 10%)`,
    );
    console.log(
      `  of which (medians, so they need not add up): context manager ${signed(added("context"))}, spans ${signed(added("spans", "context"))}, metrics ${signed(added("on", "spans"))}`,
    );
    const spansPerRound = exportedSpans / exportedRounds;
    console.log(`  spans per round: ${spansPerRound.toFixed(1)}, so ${(((on - off) * 1000) / spansPerRound).toFixed(1)} µs a span, metrics included`);
    recordFigure("framework", "tracing overhead p50", `${overhead.toFixed(1)}%`);
  } finally {
    rmSync(appDir, { recursive: true, force: true });
  }
}
