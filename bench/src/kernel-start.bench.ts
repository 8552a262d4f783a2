// Kernel start benchmark: spawned kernels against kernels forked from a template
// (`execution_service.kernel_start`), in one run, through the local runtime's factory without a
// warm pool, as an app uses it.
//
// - session to first result: a new session's executor from the factory, first execute of
//   `import pandas as pd; pd.DataFrame({"a": [1]}).shape`, until the result is back. Sessions
//   alternate between the two ways of starting so load from other processes hits both alike. The
//   template's own start (once per app) is measured apart.
// - memory per idle kernel (after its first result): RSS, PSS and USS from smaps_rollup, and the
//   template's.
// - round trip of `1+1` on a spawned and on a forked kernel, alternating blocks.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type CodeExecutor } from "@taskweaver/core";
import { createLocalExecutorFactory } from "@taskweaver/executor";
import { readProcessMemory, type ProcessMemory } from "../../packages/executor/src/local/process-memory.js";
import { cpuSeconds } from "./kernel-start-cpu.js";
import { formatMs, p50p99, percentile, recordFigure } from "./stats.js";

const PYTHON = "/usr/bin/python3";
const SESSIONS = 9;
const IDLE_KERNELS = 5;
const RUNS = 100;
const BLOCK = 20;
const FIRST_CODE = 'import pandas as pd; pd.DataFrame({"a": [1]}).shape';

type Start = "spawn" | "fork";
const mebibytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

async function openFactory(appDir: string, start: Start) {
  const config = await loadConfig({
    appDir,
    env: {},
    // Unsandboxed, so that spawn and fork compare the same kind of kernel (sandboxed ones always spawn).
    overrides: { "execution_service.python": PYTHON, "execution_service.kernel_start": start, "execution_service.local.sandbox": "none" },
  });
  return createLocalExecutorFactory(config);
}

async function firstResult(factory: Awaited<ReturnType<typeof openFactory>>, directory: string, id: string) {
  const started = performance.now();
  const executor = await factory({ sessionId: id, workingDirectory: join(directory, id) });
  const result = await executor.execute(FIRST_CODE);
  const elapsed = performance.now() - started;
  if (result.output !== "(1, 1)") throw new Error(`unexpected result ${JSON.stringify(result)}`);
  return { elapsed, executor };
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
  const directory = await mkdtemp(join(tmpdir(), "tw-bench-start-"));
  const factories = { spawn: await openFactory(directory, "spawn"), fork: await openFactory(directory, "fork") };
  const executors: CodeExecutor[] = [];
  try {
    console.log(
      `load average ${loadavg()
        .map((value) => value.toFixed(2))
        .join(" ")} on ${cpus().length} cores`,
    );
    // The template starts with the app's first forked kernel; measured apart, then warm.
    const templateStart = await firstResult(factories.fork, directory, "template");
    executors.push(templateStart.executor);
    const warmSpawn = await firstResult(factories.spawn, directory, "warm-spawn");
    executors.push(warmSpawn.executor);

    const times: Record<Start, number[]> = { spawn: [], fork: [] };
    // CPU used per session until its first result, by the kernel (all its threads) and by this
    // host process: unlike the wall-clock times, it does not grow with the machine's other load.
    const kernelCpu: Record<Start, number[]> = { spawn: [], fork: [] };
    const hostCpu: Record<Start, number[]> = { spawn: [], fork: [] };
    for (let index = 0; index < SESSIONS; index += 1) {
      for (const start of ["spawn", "fork"] as const) {
        const hostBefore = process.cpuUsage();
        const { elapsed, executor } = await firstResult(factories[start], directory, `${start}-${index}`);
        const host = process.cpuUsage(hostBefore);
        times[start].push(elapsed);
        hostCpu[start].push((host.user + host.system) / 1000);
        kernelCpu[start].push(cpuSeconds(executor.info.details.pid!) * 1000);
        await executor.stop();
      }
    }
    console.log(`session to first result of ${FIRST_CODE}, no pool, ${SESSIONS} sessions each:`);
    for (const start of ["spawn", "fork"] as const)
      console.log(`  ${start.padEnd(6)} p50 ${formatMs(percentile(times[start], 50))}   max ${formatMs(Math.max(...times[start]))}`);
    console.log(`  first forked session of the app (template start included) ${formatMs(templateStart.elapsed)}`);
    console.log("  CPU used until the first result, mean (the kernel's: 10 ms ticks):");
    for (const start of ["spawn", "fork"] as const)
      console.log(`    ${start.padEnd(6)} kernel ${formatMs(mean(kernelCpu[start]))}   host ${formatMs(mean(hostCpu[start]))}`);
    const forkP50 = percentile(times.fork, 50);
    console.log(`  fork p50 <= 60 ms: ${forkP50 <= 60 ? "OK" : "MISSED"}`);

    const memory: Record<Start, ProcessMemory[]> = { spawn: [], fork: [] };
    const idle: Record<Start, CodeExecutor[]> = { spawn: [], fork: [] };
    for (const start of ["spawn", "fork"] as const) {
      for (let index = 0; index < IDLE_KERNELS; index += 1) {
        const { executor } = await firstResult(factories[start], directory, `idle-${start}-${index}`);
        idle[start].push(executor);
        executors.push(executor);
      }
    }
    // All kernels are up at once, so shared pages are divided between all of them.
    for (const start of ["spawn", "fork"] as const)
      for (const executor of idle[start]) {
        const reading = await readProcessMemory(executor.info.details.pid!);
        if (reading) memory[start].push(reading);
      }
    // The template is the forked kernels' parent (field 4 of /proc/<pid>/stat).
    const stat = await readFile(`/proc/${idle.fork[0]!.info.details.pid}/stat`, "utf8");
    const templateMemory = await readProcessMemory(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]!);
    console.log(`memory per idle kernel after its first result (${IDLE_KERNELS} of each alive at once), mean:`);
    for (const start of ["spawn", "fork"] as const) {
      const readings = memory[start];
      console.log(
        `  ${start.padEnd(6)} RSS ${mebibytes(mean(readings.map((m) => m.rssBytes)))}   PSS ${mebibytes(mean(readings.map((m) => m.pssBytes)))}   USS ${mebibytes(mean(readings.map((m) => m.ussBytes)))}`,
      );
    }
    if (templateMemory)
      console.log(
        `  the template itself: RSS ${mebibytes(templateMemory.rssBytes)}   PSS ${mebibytes(templateMemory.pssBytes)}   USS ${mebibytes(templateMemory.ussBytes)}`,
      );
    const forkPss = mean(memory.fork.map((m) => m.pssBytes));
    console.log(`  fork PSS <= 30 MiB: ${forkPss <= 30 * 1024 * 1024 ? "OK" : "MISSED"}`);

    const spawned = idle.spawn[0]!;
    const forked = idle.fork[0]!;
    const trips: Record<Start, number[]> = { spawn: [], fork: [] };
    await roundTrips(spawned, 10);
    await roundTrips(forked, 10);
    for (let done = 0; done < RUNS; done += BLOCK) {
      trips.spawn.push(...(await roundTrips(spawned, BLOCK)));
      trips.fork.push(...(await roundTrips(forked, BLOCK)));
    }
    console.log(`round trip of 1+1, ${RUNS} runs each in alternating blocks of ${BLOCK}:`);
    for (const start of ["spawn", "fork"] as const)
      console.log(`  ${start.padEnd(6)} p50 ${formatMs(percentile(trips[start], 50))}   p99 ${formatMs(percentile(trips[start], 99))}`);
    console.log(
      `load average ${loadavg()
        .map((value) => value.toFixed(2))
        .join(" ")} at the end`,
    );
    for (const start of ["spawn", "fork"] as const) {
      recordFigure(`local ${start}`, "session to first pandas result p50", formatMs(percentile(times[start], 50)));
      recordFigure(`local ${start}`, "CPU to first result, kernel + host", formatMs(mean(kernelCpu[start]) + mean(hostCpu[start])));
      recordFigure(`local ${start}`, "idle kernel PSS", mebibytes(mean(memory[start].map((m) => m.pssBytes))));
      recordFigure(`local ${start}`, "1+1 p50 / p99", p50p99(trips[start]));
    }
  } finally {
    await Promise.all(executors.map((executor) => executor.stop()));
    await Promise.all([factories.spawn.dispose(), factories.fork.dispose()]);
    await rm(directory, { recursive: true, force: true });
  }
}
