// Kernel benchmark: our local runtime against the bare kernel and Python's jupyter_client.
//
// - start-to-ready: `executor.start()` (spawn, ZeroMQ connect, kernel_info handshake with iopub
//   confirmed, support code injected) against the bare kernel process alone (spawn until the first
//   kernel_info_reply, measured by jupyter_client in kernel-baseline.py). Same command line.
// - round trip of `1+1` (execute_request until execute_reply and iopub idle), p50/p99 over 200
//   runs, ours (over ipc, and over tcp for comparison) against BlockingKernelClient.execute_interactive
//   on the same kind of kernel.
// The two sides alternate in small blocks so that load from other processes hits both alike.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { CodeExecutor } from "@taskweaver/core";
import { createLocalExecutor } from "@taskweaver/executor";
import { formatMs, p50p99, percentile, recordFigure } from "./stats.js";

const PYTHON = "/usr/bin/python3";
const STARTS = 7;
const RUNS = 200;
const BLOCK = 20;
const WARM_UP = 10;

/** The Python baseline as a command server (see kernel-baseline.py). */
function startBaseline(workdir: string) {
  const script = join(dirname(fileURLToPath(import.meta.url)), "kernel-baseline.py");
  const child = spawn(PYTHON, [script, workdir], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const ask = async <T>(command: string): Promise<T> => {
    child.stdin.write(`${command}\n`);
    const line = await lines.next();
    if (line.done) throw new Error(`the baseline script ended during "${command}"`);
    return JSON.parse(line.value) as T;
  };
  return {
    start: async () => (await ask<{ start_ms: number }>("start")).start_ms,
    open: () => ask("open"),
    roundTrips: async (count: number) =>
      (await ask<{ round_trip_ms: number[] }>(`rt ${count}`)).round_trip_ms,
    close: () => ask("close"),
    end: () => {
      child.stdin.end();
      return new Promise((resolve) => child.once("exit", resolve));
    },
  };
}

async function measureStart(workdir: string): Promise<number> {
  const executor = createLocalExecutor({ workingDirectory: workdir, python: PYTHON });
  const started = performance.now();
  await executor.start();
  const elapsed = performance.now() - started;
  await executor.stop();
  return elapsed;
}

async function openExecutor(workdir: string, transport: "ipc" | "tcp"): Promise<CodeExecutor> {
  const executor = createLocalExecutor({ workingDirectory: workdir, python: PYTHON, transport });
  await executor.start();
  for (let index = 0; index < WARM_UP; index += 1) await executor.execute("1+1");
  return executor;
}

async function roundTrips(executor: CodeExecutor, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let index = 0; index < count; index += 1) {
    const started = performance.now();
    const result = await executor.execute("1+1");
    times.push(performance.now() - started);
    if (result.output !== "2") throw new Error(`unexpected result ${JSON.stringify(result)}`);
  }
  return times;
}

const median = (values: number[]) => percentile(values, 50);
const range = (values: number[]) => `${formatMs(Math.min(...values))} .. ${formatMs(Math.max(...values))}`;

export async function run(): Promise<void> {
  const workdir = await mkdtemp(join(tmpdir(), "tw-bench-kernel-"));
  const baseline = startBaseline(workdir);
  try {
    const ours: number[] = [];
    const bare: number[] = [];
    for (let index = 0; index < STARTS; index += 1) {
      ours.push(await measureStart(workdir));
      bare.push(await baseline.start());
    }
    const startRatio = median(ours) / median(bare);
    const pairedRatio = median(ours.map((value, index) => value / bare[index]!));
    console.log(`kernel start-to-ready, median of ${STARTS} alternating starts (min .. max):`);
    console.log(
      `  ours (local runtime, support code injected)      ${formatMs(median(ours))}  (${range(ours)})`,
    );
    console.log(
      `  bare kernel process (spawn to kernel_info_reply) ${formatMs(median(bare))}  (${range(bare)})`,
    );
    console.log(
      `  ratio ours/bare: ${startRatio.toFixed(2)}x of medians, ${pairedRatio.toFixed(2)}x median of pairs (target <= 1.20x) ${startRatio <= 1.2 ? "OK" : "MISSED"}`,
    );

    const ipc = await openExecutor(workdir, "ipc");
    const tcp = await openExecutor(workdir, "tcp");
    await baseline.open();
    const times = { ipc: [] as number[], tcp: [] as number[], baseline: [] as number[] };
    for (let done = 0; done < RUNS; done += BLOCK) {
      times.ipc.push(...(await roundTrips(ipc, BLOCK)));
      times.baseline.push(...(await baseline.roundTrips(BLOCK)));
      times.tcp.push(...(await roundTrips(tcp, BLOCK)));
    }
    await Promise.all([ipc.stop(), tcp.stop(), baseline.close()]);
    const row = (label: string, values: number[]) =>
      console.log(
        `  ${label.padEnd(46)} p50 ${formatMs(percentile(values, 50))}   p99 ${formatMs(percentile(values, 99))}`,
      );
    console.log(
      `round trip of 1+1, ${RUNS} runs each, in alternating blocks of ${BLOCK} (after ${WARM_UP} warm-up runs):`,
    );
    row("ours, ipc transport (default)", times.ipc);
    row("ours, tcp transport", times.tcp);
    row("baseline jupyter_client BlockingKernelClient", times.baseline);
    const latencyOk = percentile(times.ipc, 50) <= percentile(times.baseline, 50);
    recordFigure("local", "start-to-ready", formatMs(median(ours)));
    recordFigure("local", "1+1 p50 / p99", p50p99(times.ipc));
    console.log(`  ours p50 <= baseline p50: ${latencyOk ? "OK" : "MISSED"}`);
  } finally {
    await baseline.end();
    await rm(workdir, { recursive: true, force: true });
  }
}
