// Docker runtime figures: container start-to-ready, `1+1` round trip, idle kernel memory; then
// kernel_start spawn vs fork, with and without a warm pool: session to the first pandas result,
// restart, and the container's memory.
// Needs a Docker engine (scripts/docker-engine.sh) and the executor image
// (packages/executor/docker/build-image.sh); skips with a message otherwise.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createDockerExecutor,
  createDockerKernelLauncher,
  defaultContainerOptions,
  type DockerEngineClient,
  type KernelContainer,
} from "../../packages/executor/src/docker/index.js";
import { createWarmPool } from "../../packages/executor/src/warm-pool.js";
import { findDockerEngine } from "./docker-engine.js";
import { formatMs, p50p99, percentile, recordFigure } from "./stats.js";

const STARTS = 3;
const ROUND_TRIPS = 200;
/** Sessions per kernel_start and pool setting, and restarts in each. */
const SESSIONS = 3;
const RESTARTS = 3;
const PANDAS_CELL = 'import pandas as pd; pd.DataFrame({"a": [1]}).shape';

function mebibytes(bytes: number | undefined): string {
  return bytes === undefined ? "n/a" : `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

export async function run(): Promise<void> {
  const engine = await findDockerEngine();
  if (typeof engine === "string") {
    console.log(`docker: skipped: ${engine}`);
    return;
  }
  const version = await engine.version();
  console.log(`engine ${version.version} (API ${version.apiVersion}) at ${engine.endpoint.description}`);

  const startTimes: number[] = [];
  const roundTrips: number[] = [];
  let residentBytes: number | undefined;
  let cgroupBytes: number | undefined;
  let kernelRss: string | undefined;

  for (let attempt = 0; attempt < STARTS; attempt += 1) {
    const workingDirectory = mkdtempSync(join(tmpdir(), "tw-docker-bench-"));
    let container: KernelContainer | undefined;
    const executor = createDockerExecutor({
      workingDirectory,
      client: engine,
      onContainer: (started) => (container = started),
    });
    try {
      const started = performance.now();
      await executor.start();
      startTimes.push(performance.now() - started);
      if (attempt === 0) {
        for (let index = 0; index < 10; index += 1) await executor.execute("1+1");
        for (let index = 0; index < ROUND_TRIPS; index += 1) {
          const result = await executor.execute("1+1");
          if (result.output !== "2") throw new Error(`unexpected result ${JSON.stringify(result)}`);
          roundTrips.push(result.durationMs);
        }
        // Idle memory: let the kernel settle, then read the cgroup and the kernel's own VmRSS.
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        const memory = await container!.memory();
        residentBytes = memory.resident;
        cgroupBytes = memory.usage;
        const rss = await executor.execute(
          "[line.split()[1] for line in open('/proc/self/status') if line.startswith('VmRSS')][0]",
        );
        kernelRss = `${(Number(rss.output.replace(/'/g, "")) / 1024).toFixed(1)} MiB`;
      }
    } finally {
      await executor.stop();
      rmSync(workingDirectory, { recursive: true, force: true });
    }
  }

  recordFigure("docker", "start-to-ready", formatMs(percentile(startTimes, 50)));
  recordFigure("docker", "1+1 p50 / p99", p50p99(roundTrips));
  console.log(`container start-to-ready (create, start, kernel_info, support code), ${STARTS} runs:`);
  console.log(`  p50 ${formatMs(percentile(startTimes, 50))}   max ${formatMs(Math.max(...startTimes))}`);
  console.log(`"1+1" round trip, ${ROUND_TRIPS} runs:`);
  console.log(`  p50 ${formatMs(percentile(roundTrips, 50))}   p99 ${formatMs(percentile(roundTrips, 99))}`);
  console.log(
    `idle kernel memory: VmRSS ${kernelRss ?? "n/a"}, cgroup resident ${mebibytes(residentBytes)}, ` +
      `cgroup total with page cache ${mebibytes(cgroupBytes)}`,
  );

  await compareKernelStarts(engine);
}

/**
 * kernel_start "spawn" (ipykernel is the container's main process, a restart is a new container)
 * against "fork" (the fork template is, a restart is a fork in the same container), each without
 * and with a warm pool of one: session (executor created) to the first pandas result, restart to
 * ready, and the cgroup's memory with one idle kernel.
 */
async function compareKernelStarts(engine: DockerEngineClient): Promise<void> {
  console.log(`kernel_start spawn vs fork, ${SESSIONS} sessions each, ${RESTARTS} restarts per session:`);
  for (const pooled of [false, true]) {
    for (const kernelStart of ["spawn", "fork"] as const) {
      const firstResults: number[] = [];
      const restarts: number[] = [];
      const memory: number[] = [];
      const poolDirectory = mkdtempSync(join(tmpdir(), "tw-docker-bench-pool-"));
      const containers = new Map<string, KernelContainer>();
      const launcher = createDockerKernelLauncher({
        client: engine,
        security: defaultContainerOptions(),
        poolDirectory,
        sessionId: pooled ? "warm-pool" : "bench",
        kernelStart,
        supportOptions: { max_output_chars: 100_000 },
        onContainer: (container) => containers.set(container.id.slice(0, 12), container),
      });
      const pool = pooled
        ? createWarmPool({
            launcher,
            size: 1,
            poolDirectory: defaultContainerOptions().containerWorkingDirectory,
            supportOptions: { max_output_chars: 100_000 },
          })
        : undefined;
      pool?.fill();
      try {
        for (let session = 0; session < SESSIONS; session += 1) {
          // A session arrives once the pool is full again, as it would after a quiet moment.
          await pool?.settled();
          const workingDirectory = join(poolDirectory, "..", `tw-docker-bench-session-${process.pid}-${session}`);
          const executor = createDockerExecutor({ workingDirectory, launcher: pool ?? launcher, templates: launcher });
          try {
            const started = performance.now();
            const first = await executor.execute(PANDAS_CELL);
            firstResults.push(performance.now() - started);
            if (first.output !== "(1, 1)") throw new Error(`unexpected result ${JSON.stringify(first)}`);
            if (session === 0) {
              await new Promise((resolve) => setTimeout(resolve, 1_000));
              const container = containers.get(executor.info.details.containerId ?? "");
              const usage = (await container?.memory())?.usage;
              if (usage !== undefined) memory.push(usage);
            }
            for (let restart = 0; restart < RESTARTS; restart += 1) {
              await pool?.settled();
              const restartStarted = performance.now();
              await executor.restart();
              restarts.push(performance.now() - restartStarted);
              if ((await executor.execute("1+1")).output !== "2") throw new Error("no kernel after the restart");
            }
          } finally {
            await executor.stop();
            rmSync(workingDirectory, { recursive: true, force: true });
          }
        }
      } finally {
        await pool?.dispose();
        rmSync(poolDirectory, { recursive: true, force: true });
      }
      const label = `${kernelStart}${pooled ? ", warm pool" : ""}`;
      recordFigure("docker", `first pandas result (${label}) p50`, formatMs(percentile(firstResults, 50)));
      recordFigure("docker", `restart (${label}) p50`, formatMs(percentile(restarts, 50)));
      console.log(
        `  ${label.padEnd(17)} first pandas result p50 ${formatMs(percentile(firstResults, 50))} (max ${formatMs(Math.max(...firstResults))})` +
          `   restart p50 ${formatMs(percentile(restarts, 50))} (max ${formatMs(Math.max(...restarts))})` +
          `   container memory ${mebibytes(memory[0])}`,
      );
    }
  }
}
