// What tracing costs a round: the framework's own time for a full planner round (User ->
// Planner -> CodeInterpreter -> Planner -> User, 11 spans and 9 histogram records) with an
// instant in-process model and an instant executor, tracing off (no SDK: the core's spans are
// no-ops) and on (the real SDK, batched into an exporter that keeps nothing, with the GenAI
// metrics read in memory), in short alternating blocks of one run so that the load of a shared
// machine falls on both alike, on an empty app and on the sample project. Target: at most 10%
// more framework time per round with tracing on.
//
// Three more kinds of block take the cost apart: the SDK started with its spans and metrics
// unregistered (what the context manager costs), with its metrics unregistered (what the
// spans add), and with its tracer provider swapped for a minimal one of the bench's own whose
// spans keep their attributes and times and are dropped at their end, metrics unregistered
// (what any span that records costs here, the SDK aside: the floor a leaner tracer could reach),
// and a last kind samples one new trace in ten. Every kind is warmed up before anything is
// measured: a process that traces runs its traced paths long enough for the JIT to optimise
// them, and a warm-up of untraced rounds only would charge that to tracing. For the same reason
// the first round of each block (the first after the SDK started or stopped) is not counted. The
// figure is the median over the cycles of the ratio of neighbouring blocks, which a load that
// comes and goes moves less than a ratio of p50s over the whole run (printed too).
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import {
  metrics,
  SpanStatusCode,
  trace,
  TraceFlags,
  type AttributeValue,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type SpanKind,
  type SpanOptions,
  type SpanStatus,
  type TracerProvider,
} from "@opentelemetry/api";
import type { ExportResult } from "@opentelemetry/core";
import { AggregationTemporality, InMemoryMetricExporter, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { RandomIdGenerator, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import { createTaskWeaver, loadConfig, type ChatRequest, type ChatStreamPart, type LanguageModel } from "@taskweaver/core";
import { startTelemetry, type Telemetry } from "@taskweaver/telemetry";
import { createFakeExecutor } from "../../packages/core/src/testing/fake-executor.js";
import { formatMs, percentile, recordFigure } from "./stats.js";

/** Cycles of one block of each kind; the first ones warm up and are not counted. */
const CYCLES = 48;
const WARM_UP_CYCLES = 3;
const ROUNDS_PER_BLOCK = 16;

/**
 * Off; all of it (on); the SDK with neither spans nor metrics; with spans only; minimal spans
 * only; all of it with one new trace in ten sampled (`tracing.sample_ratio` 0.1). The main
 * figure compares neighbouring blocks (on with off), so that a load that drifts within a cycle
 * moves it less.
 */
const KINDS = ["off", "on", "context", "spans", "minimal", "sampled"] as const;
const SAMPLE_RATIO = 0.1;
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

/** The SDK's own ids, so the minimal tracer differs from the SDK's in what it does with a span. */
const ids = new RandomIdGenerator();

/** A span that records what it is told, keeps its start and end time, and goes nowhere. */
class MinimalSpan implements Span {
  readonly attributes: Attributes = {};
  readonly events: { name: string; attributes: Attributes | undefined; time: number }[] = [];
  status: SpanStatus = { code: SpanStatusCode.UNSET };
  readonly startTime = performance.now();
  endTime = 0;
  constructor(
    public name: string,
    readonly kind: SpanKind | undefined,
    private readonly context: SpanContext,
    readonly parent: SpanContext | undefined,
    attributes: Attributes | undefined,
  ) {
    if (attributes) this.setAttributes(attributes);
  }
  spanContext() {
    return this.context;
  }
  setAttribute(key: string, value: AttributeValue) {
    if (this.endTime === 0 && value != null) this.attributes[key] = value;
    return this;
  }
  setAttributes(attributes: Attributes) {
    for (const key in attributes) this.setAttribute(key, attributes[key]!);
    return this;
  }
  addEvent(name: string, attributes?: Attributes) {
    this.events.push({ name, attributes, time: performance.now() });
    return this;
  }
  addLink() {
    return this;
  }
  addLinks() {
    return this;
  }
  setStatus(status: SpanStatus) {
    this.status = status;
    return this;
  }
  updateName(name: string) {
    this.name = name;
    return this;
  }
  end() {
    if (this.endTime === 0) this.endTime = performance.now();
  }
  isRecording() {
    return this.endTime === 0;
  }
  recordException(exception: unknown) {
    this.addEvent("exception", { "exception.message": String(exception) });
  }
}

const minimalTracerProvider: TracerProvider = {
  getTracer: () => ({
    startSpan(name: string, options: SpanOptions = {}, context?: Context): Span {
      const parent = context === undefined ? undefined : trace.getSpanContext(context);
      const traceId = parent && trace.isSpanContextValid(parent) ? parent.traceId : ids.generateTraceId();
      const spanContext = { traceId, spanId: ids.generateSpanId(), traceFlags: TraceFlags.SAMPLED };
      return new MinimalSpan(name, options.kind, spanContext, parent, options.attributes);
    },
    startActiveSpan() {
      throw new Error("the core does not start active spans");
    },
  }),
};

/** The repository's sample app: plugins, examples and the original's config shape its prompts. */
const SAMPLE_PROJECT = fileURLToPath(new URL("../../project", import.meta.url));

/**
 * Both by default: an empty app, the least framework work a round can have and so the largest
 * share for tracing, and the sample project, a round of a TaskWeaver project as people bring
 * them. `TASKWEAVER_BENCH_APP=DIR` measures that app folder instead (a copy of it).
 */
export async function run(): Promise<void> {
  const chosen = process.env.TASKWEAVER_BENCH_APP;
  for (const source of chosen ? [chosen] : [undefined, SAMPLE_PROJECT]) await measure(source);
}

async function measure(source: string | undefined): Promise<void> {
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
  const label = source === undefined ? "an empty app" : source === SAMPLE_PROJECT ? "the sample project" : source;
  const appDir = mkdtempSync(join(tmpdir(), "tw-bench-tracing-"));
  if (source) cpSync(source, appDir, { recursive: true });
  else writeFileSync(join(appDir, "taskweaver_config.json"), "{}");
  const config = loadConfig({ appDir, env: {} });
  const sampledConfig = loadConfig({ appDir, env: {}, overrides: { "tracing.sample_ratio": SAMPLE_RATIO } });
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
    const times = Object.fromEntries(KINDS.map((kind) => [kind, [] as number[]])) as Record<Kind, number[]>;
    // p50 of each counted block, by kind, in cycle order.
    const blocks = Object.fromEntries(KINDS.map((kind) => [kind, [] as number[]])) as Record<Kind, number[]>;
    for (let cycle = 0; cycle < CYCLES; cycle += 1) {
      for (const kind of KINDS) {
        let telemetry: Telemetry | undefined;
        if (kind !== "off") {
          telemetry = await startTelemetry({
            config: kind === "sampled" ? sampledConfig : config,
            env: {},
            defaultServiceName: "bench",
            spanExporter: exporter,
            metricReader: new PeriodicExportingMetricReader({
              exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
              exportIntervalMillis: 3_600_000,
            }),
          });
          // Unregistered, the core's spans and records are no-ops again; shutdown does it anyway.
          if (kind === "context" || kind === "minimal") trace.disable();
          if (kind === "minimal") trace.setGlobalTracerProvider(minimalTracerProvider);
          if (kind !== "on" && kind !== "sampled") metrics.disable();
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
    console.log(
      `framework time per planner round of ${label}, ${times.off.length} rounds each, model and kernel excluded:`,
    );
    console.log(`  tracing off: p50 ${formatMs(off)}   p99 ${formatMs(percentile(times.off, 99))}`);
    console.log(`  tracing on:  p50 ${formatMs(on)}   p99 ${formatMs(percentile(times.on, 99))}   (in-memory exporter, batched)`);
    console.log(
      `  overhead: ${signed(overhead)} (median over ${blocks.off.length} cycles; ${signed(((on - off) / off) * 100)} between the p50s), ${(on - off).toFixed(3)} ms a round (target: <= 10%)`,
    );
    console.log(
      `  of which (medians, so they need not add up): context manager ${signed(added("context"))}, spans ${signed(added("spans", "context"))}, metrics ${signed(added("on", "spans"))}`,
    );
    console.log(
      `  the same spans made by a minimal tracer of the bench's own (attributes and times kept, nothing exported): ${signed(added("minimal", "context"))}`,
    );
    console.log(`  with tracing.sample_ratio ${SAMPLE_RATIO} (metrics still recorded): ${signed(added("sampled"))}`);
    const spansPerRound = exportedSpans / exportedRounds;
    console.log(`  spans per round: ${spansPerRound.toFixed(1)}, so ${(((on - off) * 1000) / spansPerRound).toFixed(1)} µs a span, metrics included`);
    recordFigure(`framework, ${label}`, "tracing overhead p50", `${overhead.toFixed(1)}%`);
  } finally {
    rmSync(appDir, { recursive: true, force: true });
  }
}
