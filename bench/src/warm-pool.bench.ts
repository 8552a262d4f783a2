// Warm pool benchmark, for each runtime that can run here (local always; Docker with an engine
// and the executor image; remote with Debian's jupyter-server).
//
// - session to first result: create the executor from the app's factory for a new session, start
//   it, execute `1+1`, until the result is back. With `execution_service.warm_pool_size` 2 over a
//   series of sessions (the pool is refilled between sessions, untimed: sessions arriving further
//   apart than a kernel start), then sessions back to back (no wait: some find the pool empty),
//   against a few sessions without the pool (a cold kernel start each).
// - resident memory (VmRSS) of each idle pooled kernel process.
import { readdir, readFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type CodeExecutor, type ExecutorFactory } from "@taskweaver/core";
import {
  createDockerExecutorFactory,
  createLocalExecutorFactory,
  createRemoteExecutorFactory,
  type DockerEngineClient,
  type KernelConnection,
  type WarmPool,
} from "@taskweaver/executor";
import { jupyterServerUnavailableReason, startJupyterServer, type JupyterServer } from "../../test/src/jupyter-server.js";
import { findDockerEngine } from "./docker-engine.js";
import { formatMebibytes, formatMs, p50p99, percentile, recordFigure } from "./stats.js";

const PYTHON = "/usr/bin/python3";
const POOL_SIZE = 2;

type PooledFactory = ExecutorFactory & { dispose(): Promise<void>; readonly warmPool: WarmPool | undefined };

/** One runtime under test. */
interface RuntimeCase {
  name: string;
  /** Config keys that select and configure the runtime. */
  overrides: Record<string, unknown>;
  createFactory(config: Awaited<ReturnType<typeof loadConfig>>): PooledFactory;
  /** The detail that tells kernels apart (pid, container id, kernel id). */
  identity: string;
  /** VmRSS of an idle pooled kernel's Python process, in kB. */
  idleKilobytes(kernel: KernelConnection): Promise<number>;
  pooledSessions: number;
  backToBackSessions: number;
  coldSessions: number;
}

async function residentKilobytes(pid: number | string): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

/** The Python kernel inside a container: the only child of its init (tini). */
async function containerKernelKilobytes(engine: DockerEngineClient, containerId: string): Promise<number> {
  const inspection = await engine.inspectContainer(containerId);
  const init = inspection?.State.Pid;
  if (!init) throw new Error(`container ${containerId} has no process`);
  const children = (await readFile(`/proc/${init}/task/${init}/children`, "utf8")).trim().split(/\s+/);
  return residentKilobytes(children[0]!);
}

/** The remote kernel's process on this machine: the one started with its connection file. */
async function remoteKernelKilobytes(kernelId: string): Promise<number> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const commandLine = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (commandLine.includes(`kernel-${kernelId}.json`)) return residentKilobytes(entry);
  }
  throw new Error(`no process found for remote kernel ${kernelId}`);
}

/** One session: factory -> start -> `1+1` -> result; returns the time and the kernel it ran on. */
async function firstResult(
  factory: ExecutorFactory,
  appDir: string,
  sessionId: string,
  identity: string,
): Promise<{ ms: number; kernel: string; executor: CodeExecutor }> {
  const started = performance.now();
  const executor = await factory({
    sessionId,
    workingDirectory: join(appDir, "workspace", "sessions", sessionId, "cwd"),
  });
  await executor.start();
  const result = await executor.execute("1+1");
  const ms = performance.now() - started;
  if (result.output !== "2") throw new Error(`1+1 gave ${JSON.stringify(result.output)}`);
  return { ms, kernel: executor.info.details[identity] ?? "", executor };
}

function summary(label: string, values: number[]): string {
  return `${label}: p50 ${formatMs(percentile(values, 50))}, p99 ${formatMs(percentile(values, 99))}, min ${formatMs(Math.min(...values))}, max ${formatMs(Math.max(...values))} (n=${values.length})`;
}

async function measure(runtime: RuntimeCase): Promise<void> {
  const appDir = await mkdtemp(join(tmpdir(), "tw-bench-pool-"));
  const factoryFor = async (poolSize: number) =>
    runtime.createFactory(
      await loadConfig({
        appDir,
        env: {},
        overrides: { ...runtime.overrides, "execution_service.warm_pool_size": poolSize },
      }),
    );
  try {
    // Without the pool: every session starts its own kernel.
    const cold = await factoryFor(0);
    const coldTimes: number[] = [];
    for (let index = 0; index < runtime.coldSessions; index += 1) {
      const session = await firstResult(cold, appDir, `cold-${index}`, runtime.identity);
      coldTimes.push(session.ms);
      await session.executor.stop();
    }
    await cold.dispose();

    const factory = await factoryFor(POOL_SIZE);
    const pool = factory.warmPool!;
    try {
      await pool.settled();
      if (pool.lastError) throw pool.lastError;
      const idle = await Promise.all(pool.idleKernels.map((kernel) => runtime.idleKilobytes(kernel)));

      const pooledTimes: number[] = [];
      let fromPool = 0;
      for (let index = 0; index < runtime.pooledSessions; index += 1) {
        await pool.settled();
        const pooled = new Set(pool.idleKernels.map((kernel) => kernel.details[runtime.identity]));
        const session = await firstResult(factory, appDir, `pooled-${index}`, runtime.identity);
        pooledTimes.push(session.ms);
        if (pooled.has(session.kernel)) fromPool += 1;
        await session.executor.stop();
      }
      if (pool.lastError) throw pool.lastError;

      await pool.settled();
      const backToBack: number[] = [];
      const executors: CodeExecutor[] = [];
      for (let index = 0; index < runtime.backToBackSessions; index += 1) {
        const session = await firstResult(factory, appDir, `burst-${index}`, runtime.identity);
        backToBack.push(session.ms);
        executors.push(session.executor);
      }
      await Promise.all(executors.map((executor) => executor.stop()));

      console.log(summary(`${runtime.name}: session to first result, no pool (cold kernel start)`, coldTimes));
      console.log(
        summary(
          `${runtime.name}: session to first result, warm pool size ${POOL_SIZE} (pool refilled between sessions)`,
          pooledTimes,
        ),
      );
      console.log(
        `  served by a pooled kernel: ${fromPool}/${runtime.pooledSessions}` +
          (runtime.name.startsWith("local") ? "; target p50 <= 25 ms" : ""),
      );
      console.log(
        summary(
          `${runtime.name}: session to first result, warm pool size ${POOL_SIZE}, ${runtime.backToBackSessions} sessions back to back`,
          backToBack,
        ),
      );
      console.log(`${runtime.name}: resident memory per idle pooled kernel (VmRSS): ${idle.map(formatMebibytes).join(", ")}`);
      recordFigure(runtime.name, "first result, pool p50 / p99", p50p99(pooledTimes));
      recordFigure(runtime.name, "first result, cold p50", formatMs(percentile(coldTimes, 50)));
      recordFigure(runtime.name, "idle kernel RSS", formatMebibytes(percentile(idle, 50)));
    } finally {
      await factory.dispose();
    }
  } finally {
    await rm(appDir, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  // Spawned and forked local kernels (execution_service.kernel_start), one after the other.
  for (const start of ["spawn", "fork"] as const) {
    await measure({
      name: `local ${start}`,
      overrides: { "execution_service.python": PYTHON, "execution_service.kernel_start": start },
      createFactory: createLocalExecutorFactory,
      identity: "pid",
      idleKilobytes: (kernel) => residentKilobytes(kernel.details.pid!),
      pooledSessions: 30,
      backToBackSessions: 10,
      coldSessions: 5,
    });
  }

  const engine = await findDockerEngine();
  if (typeof engine === "string") console.log(`docker: skipped: ${engine}`);
  else {
    await measure({
      name: "docker",
      overrides: {
        "execution_service.kernel_mode": "container",
        "execution_service.docker.host": engine.endpoint.description,
      },
      createFactory: createDockerExecutorFactory,
      identity: "containerId",
      idleKilobytes: (kernel) => containerKernelKilobytes(engine, kernel.details.containerId!),
      pooledSessions: 15,
      backToBackSessions: 4,
      coldSessions: 3,
    });
  }

  const unavailable = jupyterServerUnavailableReason();
  if (unavailable !== undefined) {
    console.log(`remote: skipped: ${unavailable}`);
    return;
  }
  let server: JupyterServer | undefined;
  try {
    server = await startJupyterServer();
    const { url, token } = server;
    await measure({
      name: "remote",
      overrides: { "execution_service.kernel_mode": "remote", "execution_service.remote.url": url },
      createFactory: (config) => createRemoteExecutorFactory(config, { env: { JUPYTER_TOKEN: token } }),
      identity: "kernelId",
      idleKilobytes: (kernel) => remoteKernelKilobytes(kernel.details.kernelId!),
      pooledSessions: 15,
      backToBackSessions: 4,
      coldSessions: 3,
    });
  } finally {
    await server?.close();
  }
}
