// Kernel start benchmark: spawned kernels against kernels forked from a template
// (`execution_service.kernel_start`), unsandboxed and in bubblewrap (`execution_service.local.sandbox`),
// in one run, through the local runtime's factory without a warm pool, as an app uses it.
//
// - session to first result: a new session's executor from the factory, first execute of
//   `import pandas as pd; pd.DataFrame({"a": [1]}).shape`, until the result is back. Sessions
//   alternate between the two ways of starting so load from other processes hits both alike. The
//   template's own start (once per app) is measured apart.
// - memory per idle kernel (after its first result): RSS, PSS and USS from smaps_rollup, and the
//   template's. A sandboxed forked kernel has an init of its own (its parent, PID 1 of its
//   namespace): counted with the kernel as well.
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

type Start = "spawn" | "fork" | "spawn-sandboxed" | "fork-sandboxed";
const STARTS: readonly Start[] = ["spawn", "fork", "spawn-sandboxed", "fork-sandboxed"];
const LABELS: Record<Start, string> = {
  spawn: "spawn",
  fork: "fork",
  "spawn-sandboxed": "spawn, sandboxed",
  "fork-sandboxed": "fork, sandboxed",
};
const byStart = <T>(make: () => T): Record<Start, T> =>
  Object.fromEntries(STARTS.map((start) => [start, make()])) as Record<Start, T>;
const mebibytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

async function openFactory(appDir: string, start: Start) {
  const sandboxed = start.endsWith("-sandboxed");
  const config = await loadConfig({
    appDir,
    env: {},
    // Sessions live in the workspace's sessions folder, which a sandboxed template can fork into.
    overrides: {
      "execution_service.python": PYTHON,
      "execution_service.kernel_start": start.startsWith("fork") ? "fork" : "spawn",
      "execution_service.local.sandbox": sandboxed ? "bwrap" : "none",
      "workspace.workspace_path": appDir,
    },
  });
  return createLocalExecutorFactory(config);
}

async function firstResult(factory: Awaited<ReturnType<typeof openFactory>>, directory: string, id: string) {
  const started = performance.now();
  const executor = await factory({ sessionId: id, workingDirectory: join(directory, "sessions", id, "cwd") });
  const result = await executor.execute(FIRST_CODE);
  const elapsed = performance.now() - started;
  if (result.output !== "(1, 1)") throw new Error(`unexpected result ${JSON.stringify(result)}`);
  return { elapsed, executor };
}

/** Field 4 of /proc/<pid>/stat. */
async function parentPid(pid: string | number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]!;
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
  const factories: Record<Start, Awaited<ReturnType<typeof openFactory>>> = {
    spawn: await openFactory(directory, "spawn"),
    fork: await openFactory(directory, "fork"),
    "spawn-sandboxed": await openFactory(directory, "spawn-sandboxed"),
    "fork-sandboxed": await openFactory(directory, "fork-sandboxed"),
  };
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
    const sandboxedTemplateStart = await firstResult(factories["fork-sandboxed"], directory, "template-sandboxed");
    executors.push(sandboxedTemplateStart.executor);
    for (const start of ["spawn", "spawn-sandboxed"] as const) {
      const warm = await firstResult(factories[start], directory, `warm-${start}`);
      executors.push(warm.executor);
    }

    const times = byStart<number[]>(() => []);
    // CPU used per session until its first result, by the kernel (all its threads) and by this
    // host process: unlike the wall-clock times, it does not grow with the machine's other load.
    const kernelCpu = byStart<number[]>(() => []);
    const hostCpu = byStart<number[]>(() => []);
    for (let index = 0; index < SESSIONS; index += 1) {
      for (const start of STARTS) {
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
    for (const start of STARTS)
      console.log(`  ${LABELS[start].padEnd(16)} p50 ${formatMs(percentile(times[start], 50))}   max ${formatMs(Math.max(...times[start]))}`);
    console.log(`  first forked session of the app (template start included) ${formatMs(templateStart.elapsed)}`);
    console.log(`  first forked sandboxed session (template start included) ${formatMs(sandboxedTemplateStart.elapsed)}`);
    console.log("  CPU used until the first result, mean (the kernel's: 10 ms ticks):");
    for (const start of STARTS)
      console.log(`    ${LABELS[start].padEnd(16)} kernel ${formatMs(mean(kernelCpu[start]))}   host ${formatMs(mean(hostCpu[start]))}`);
    const forkP50 = percentile(times.fork, 50);
    console.log(`  fork p50 <= 60 ms: ${forkP50 <= 60 ? "OK" : "MISSED"}`);

    const memory = byStart<ProcessMemory[]>(() => []);
    // A sandboxed forked kernel with its sandbox's init.
    const withInit: ProcessMemory[] = [];
    const idle = byStart<CodeExecutor[]>(() => []);
    for (const start of STARTS) {
      for (let index = 0; index < IDLE_KERNELS; index += 1) {
        const { executor } = await firstResult(factories[start], directory, `idle-${start}-${index}`);
        idle[start].push(executor);
        executors.push(executor);
      }
    }
    // All kernels are up at once, so shared pages are divided between all of them.
    for (const start of STARTS)
      for (const executor of idle[start]) {
        const reading = await readProcessMemory(executor.info.details.pid!);
        if (reading) memory[start].push(reading);
        if (start !== "fork-sandboxed") continue;
        const init = await readProcessMemory(await parentPid(executor.info.details.pid!));
        if (reading && init)
          withInit.push({
            rssBytes: reading.rssBytes + init.rssBytes,
            pssBytes: reading.pssBytes + init.pssBytes,
            ussBytes: reading.ussBytes + init.ussBytes,
          });
      }
    // The template is the forked kernels' parent, or their init's in the sandbox.
    const templateMemory = await readProcessMemory(await parentPid(idle.fork[0]!.info.details.pid!));
    const sandboxedTemplateMemory = await readProcessMemory(
      await parentPid(await parentPid(idle["fork-sandboxed"][0]!.info.details.pid!)),
    );
    console.log(`memory per idle kernel after its first result (${IDLE_KERNELS} of each alive at once), mean:`);
    const describeMemory = (readings: ProcessMemory[]) =>
      `RSS ${mebibytes(mean(readings.map((m) => m.rssBytes)))}   PSS ${mebibytes(mean(readings.map((m) => m.pssBytes)))}   USS ${mebibytes(mean(readings.map((m) => m.ussBytes)))}`;
    for (const start of STARTS) console.log(`  ${LABELS[start].padEnd(16)} ${describeMemory(memory[start])}`);
    console.log(`  fork, sandboxed, with its init: ${describeMemory(withInit)}`);
    if (templateMemory) console.log(`  the template itself: ${describeMemory([templateMemory])}`);
    if (sandboxedTemplateMemory) console.log(`  the sandboxed template itself: ${describeMemory([sandboxedTemplateMemory])}`);
    const forkPss = mean(memory.fork.map((m) => m.pssBytes));
    console.log(`  fork PSS <= 30 MiB: ${forkPss <= 30 * 1024 * 1024 ? "OK" : "MISSED"}`);

    const trips = byStart<number[]>(() => []);
    for (const start of STARTS) await roundTrips(idle[start][0]!, 10);
    for (let done = 0; done < RUNS; done += BLOCK)
      for (const start of STARTS) trips[start].push(...(await roundTrips(idle[start][0]!, BLOCK)));
    console.log(`round trip of 1+1, ${RUNS} runs each in alternating blocks of ${BLOCK}:`);
    for (const start of STARTS)
      console.log(`  ${LABELS[start].padEnd(16)} p50 ${formatMs(percentile(trips[start], 50))}   p99 ${formatMs(percentile(trips[start], 99))}`);
    console.log(
      `load average ${loadavg()
        .map((value) => value.toFixed(2))
        .join(" ")} at the end`,
    );
    for (const start of STARTS) {
      recordFigure(`local ${LABELS[start]}`, "session to first pandas result p50", formatMs(percentile(times[start], 50)));
      recordFigure(`local ${LABELS[start]}`, "CPU to first result, kernel + host", formatMs(mean(kernelCpu[start]) + mean(hostCpu[start])));
      recordFigure(`local ${LABELS[start]}`, "idle kernel PSS", mebibytes(mean(memory[start].map((m) => m.pssBytes))));
      recordFigure(`local ${LABELS[start]}`, "1+1 p50 / p99", p50p99(trips[start]));
    }
    recordFigure("local fork, sandboxed", "idle kernel + init PSS", mebibytes(mean(withInit.map((m) => m.pssBytes))));
  } finally {
    await Promise.all(executors.map((executor) => executor.stop()));
    await Promise.all(STARTS.map((start) => factories[start].dispose()));
    await rm(directory, { recursive: true, force: true });
  }
}
