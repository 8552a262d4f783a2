// Docker runtime figures: container start-to-ready, `1+1` round trip, idle kernel memory.
// Needs a Docker engine (scripts/docker-engine.sh) and the executor image
// (packages/executor/docker/build-image.sh); skips with a message otherwise.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDockerExecutor, type KernelContainer } from "../../packages/executor/src/docker/index.js";
import { findDockerEngine } from "./docker-engine.js";
import { formatMs, p50p99, percentile, recordFigure } from "./stats.js";

const STARTS = 3;
const ROUND_TRIPS = 200;

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
}
