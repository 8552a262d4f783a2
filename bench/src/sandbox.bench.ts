// Sandboxed against unsandboxed local kernels (`execution_service.local.sandbox` "bwrap" and
// "none"), in one run, both spawned (`kernel_start: "spawn"`; bench kernel-start compares forked
// sandboxed kernels) and without a pool:
//
// - start to ready: `executor.start()` of a new session's executor, until the kernel answered
//   and the support code is installed. Starts alternate between the two so load from other
//   processes hits both alike.
// - round trip of `1+1` on one kernel of each, alternating blocks.
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type CodeExecutor } from "@taskweaver/core";
import { createLocalExecutorFactory } from "../../packages/executor/src/local/local-executor.js";
import { formatMs, p50p99, percentile, recordFigure } from "./stats.js";

const PYTHON = "/usr/bin/python3";
const STARTS = 7;
const RUNS = 100;
const BLOCK = 20;
const MODES = ["none", "bwrap"] as const;
type Mode = (typeof MODES)[number];

const load = () =>
  loadavg()
    .map((value) => value.toFixed(2))
    .join(" ");

async function openFactory(appDir: string, mode: Mode) {
  const config = await loadConfig({
    appDir,
    env: {},
    overrides: {
      "execution_service.python": PYTHON,
      "execution_service.kernel_start": "spawn",
      "execution_service.local.sandbox": mode,
    },
  });
  return createLocalExecutorFactory(config);
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

export async function run(): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), "tw-bench-sandbox-"));
  const factories = {
    none: await openFactory(directory, "none"),
    bwrap: await openFactory(directory, "bwrap"),
  };
  const kept: CodeExecutor[] = [];
  try {
    console.log(`load average ${load()} on ${cpus().length} cores`);
    const starts: Record<Mode, number[]> = { none: [], bwrap: [] };
    // One start of each first, not counted: the page cache and bwrap's probe are warm afterwards.
    for (let index = -1; index < STARTS; index += 1) {
      for (const mode of MODES) {
        const executor = await factories[mode]({
          sessionId: `${mode}-${index}`,
          workingDirectory: join(directory, `${mode}-${index}`),
        });
        const started = performance.now();
        await executor.start();
        const elapsed = performance.now() - started;
        if (mode === "bwrap" && executor.info.details.sandbox !== "bwrap")
          throw new Error("the kernel is not sandboxed");
        if (index >= 0) starts[mode].push(elapsed);
        if (index === STARTS - 1) kept.push(executor);
        else await executor.stop();
      }
    }
    console.log(`start to ready (spawned kernel, support code installed), ${STARTS} each:`);
    for (const mode of MODES)
      console.log(
        `  ${mode.padEnd(6)} p50 ${formatMs(percentile(starts[mode], 50))}   max ${formatMs(Math.max(...starts[mode]))}`,
      );
    const overhead = percentile(starts.bwrap, 50) / percentile(starts.none, 50) - 1;
    console.log(
      `  sandbox start overhead ${(overhead * 100).toFixed(1)} % (target <= 15 %): ${overhead <= 0.15 ? "OK" : "MISSED"}`,
    );

    const [plain, sandboxed] = kept as [CodeExecutor, CodeExecutor];
    const trips: Record<Mode, number[]> = { none: [], bwrap: [] };
    await roundTrips(plain, 10);
    await roundTrips(sandboxed, 10);
    for (let done = 0; done < RUNS; done += BLOCK) {
      trips.none.push(...(await roundTrips(plain, BLOCK)));
      trips.bwrap.push(...(await roundTrips(sandboxed, BLOCK)));
    }
    console.log(`round trip of 1+1, ${RUNS} runs each in alternating blocks of ${BLOCK}:`);
    for (const mode of MODES)
      console.log(
        `  ${mode.padEnd(6)} p50 ${formatMs(percentile(trips[mode], 50))}   p99 ${formatMs(percentile(trips[mode], 99))}`,
      );
    console.log(`load average ${load()} at the end`);
    for (const mode of MODES) {
      const name = mode === "none" ? "local spawn" : "local sandboxed";
      recordFigure(name, "start to ready p50", formatMs(percentile(starts[mode], 50)));
      recordFigure(name, "1+1 p50 / p99", p50p99(trips[mode]));
    }
  } finally {
    await Promise.all(kept.map((executor) => executor.stop()));
    await Promise.all([factories.none.dispose(), factories.bwrap.dispose()]);
    await rm(directory, { recursive: true, force: true });
  }
}
