// Warm pool benchmark (local runtime).
//
// - session to first result: create the executor from the app's factory for a new session, start
//   it, execute `1+1`, until the result is back. With `execution_service.warm_pool_size` 2 over 30
//   sessions (the pool is refilled between sessions, untimed: sessions arriving further apart than
//   a kernel start), then 10 sessions back to back (no wait: some find the pool empty), against a
//   few sessions without the pool (a cold kernel start each).
// - resident memory (VmRSS from /proc/<pid>/status) of each idle pooled kernel, and of a kernel
//   that served `1+1` in a session.
import { readFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "@taskweaver/core";
import { createLocalExecutorFactory, type LocalExecutorFactory } from "@taskweaver/executor";
import { formatMs, percentile } from "./stats.js";

const PYTHON = "/usr/bin/python3";
const POOL_SIZE = 2;
const POOLED_SESSIONS = 30;
const BACK_TO_BACK_SESSIONS = 10;
const COLD_SESSIONS = 5;

async function factoryFor(appDir: string, poolSize: number): Promise<LocalExecutorFactory> {
  const config = await loadConfig({
    appDir,
    env: {},
    overrides: { "execution_service.python": PYTHON, "execution_service.warm_pool_size": poolSize },
  });
  return createLocalExecutorFactory(config);
}

/** One session: factory -> start -> `1+1` -> result; returns the time and the kernel's pid. */
async function firstResult(
  factory: LocalExecutorFactory,
  appDir: string,
  index: number,
): Promise<{ ms: number; pid: string; stop: () => Promise<void> }> {
  const sessionId = `bench-${index}`;
  const started = performance.now();
  const executor = await factory({
    sessionId,
    workingDirectory: join(appDir, "workspace", "sessions", sessionId, "cwd"),
  });
  await executor.start();
  const result = await executor.execute("1+1");
  const ms = performance.now() - started;
  if (result.output !== "2") throw new Error(`1+1 gave ${JSON.stringify(result.output)}`);
  return { ms, pid: executor.info.details.pid ?? "", stop: () => executor.stop() };
}

async function residentKilobytes(pid: string): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

function summary(label: string, values: number[]): string {
  return `${label}: p50 ${formatMs(percentile(values, 50))}, p99 ${formatMs(percentile(values, 99))}, min ${formatMs(Math.min(...values))}, max ${formatMs(Math.max(...values))} (n=${values.length})`;
}

export async function run(): Promise<void> {
  const appDir = await mkdtemp(join(tmpdir(), "tw-bench-pool-"));
  try {
    // Without the pool: every session starts its own kernel.
    const cold = await factoryFor(appDir, 0);
    const coldTimes: number[] = [];
    let servedKernel: { pid: string; stop: () => Promise<void> } | undefined;
    for (let index = 0; index < COLD_SESSIONS; index += 1) {
      const session = await firstResult(cold, appDir, 1000 + index);
      coldTimes.push(session.ms);
      if (index === COLD_SESSIONS - 1) servedKernel = session;
      else await session.stop();
    }
    const servedRss = servedKernel ? await residentKilobytes(servedKernel.pid) : Number.NaN;
    await servedKernel?.stop();
    await cold.dispose();

    // With the pool.
    const factory = await factoryFor(appDir, POOL_SIZE);
    const pool = factory.warmPool!;
    try {
      await pool.settled();
      if (pool.lastError) throw pool.lastError;
      const idleRss = await Promise.all(pool.idleKernels.map((kernel) => residentKilobytes(kernel.details.pid!)));

      const pooledTimes: number[] = [];
      let fromPool = 0;
      for (let index = 0; index < POOLED_SESSIONS; index += 1) {
        await pool.settled();
        const pooledPids = new Set(pool.idleKernels.map((kernel) => kernel.details.pid));
        const session = await firstResult(factory, appDir, index);
        pooledTimes.push(session.ms);
        if (pooledPids.has(session.pid)) fromPool += 1;
        await session.stop();
      }

      await pool.settled();
      const backToBack: number[] = [];
      const stops: (() => Promise<void>)[] = [];
      for (let index = 0; index < BACK_TO_BACK_SESSIONS; index += 1) {
        const session = await firstResult(factory, appDir, 100 + index);
        backToBack.push(session.ms);
        stops.push(session.stop);
      }
      await Promise.all(stops.map((stop) => stop()));

      console.log(summary("session to first result, no pool (cold kernel start)", coldTimes));
      console.log(
        summary(`session to first result, warm pool size ${POOL_SIZE} (pool refilled between sessions)`, pooledTimes),
      );
      console.log(`  served by a pooled kernel: ${fromPool}/${POOLED_SESSIONS}; target p50 <= 25 ms`);
      console.log(
        summary(`session to first result, warm pool size ${POOL_SIZE}, ${BACK_TO_BACK_SESSIONS} sessions back to back`, backToBack),
      );
      const format = (kb: number) => `${(kb / 1024).toFixed(1)} MiB`;
      console.log(`resident memory per idle pooled kernel (VmRSS): ${idleRss.map(format).join(", ")}`);
      console.log(`resident memory of a kernel after a session's 1+1 (no pool): ${format(servedRss)}`);
    } finally {
      await factory.dispose();
    }
  } finally {
    await rm(appDir, { recursive: true, force: true });
  }
}
