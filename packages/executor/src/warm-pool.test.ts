import { spawn } from "node:child_process";
import { access, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "@taskweaver/core";
import { afterAll, describe, expect, test } from "vitest";
import { createExecutorFactory } from "./factory.js";
import { DEFAULT_MAX_WORKDIR_BYTES } from "./internal/workdir-limit.js";
import { createLocalExecutor, createLocalExecutorFactory, type LocalExecutorFactory } from "./local/local-executor.js";
import { createLocalKernelLauncher } from "./local/local-kernel.js";
import { trackedKernelProcessGroups } from "./local/process-registry.js";
import { findPythonWithIpykernelSync } from "./local/python-discovery.js";
import type { KernelLauncher, LaunchOptions } from "./kernel-executor.js";
import { createWarmPool } from "./warm-pool.js";

let python: string | undefined;
let unavailable = false;
try {
  python = findPythonWithIpykernelSync({ configured: process.env.TASKWEAVER_TEST_PYTHON });
} catch {
  unavailable = true;
}
// Under CI a missing Python must fail, never skip.
const realKernelTest = test.skipIf(unavailable && process.env.CI !== "true");

const directories: string[] = [];
afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

async function temporaryDirectory(prefix: string): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), prefix));
  directories.push(directory);
  return directory;
}

async function factoryWith(overrides: Record<string, unknown>): Promise<LocalExecutorFactory> {
  const appDir = await temporaryDirectory("tw-pool-app-");
  const config = await loadConfig({
    appDir,
    env: {},
    overrides: { "execution_service.python": python, ...overrides },
  });
  return createLocalExecutorFactory(config);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("warm pool (local runtime)", () => {
  test("is off by default: the factory has no pool and starts nothing ahead", async () => {
    const before = trackedKernelProcessGroups().length;
    const factory = await factoryWith({});
    expect(factory.warmPool).toBeUndefined();
    expect(trackedKernelProcessGroups()).toHaveLength(before);
    await factory.dispose();
  });

  test("the app-level factory exposes dispose, so the app can stop its pool", async () => {
    const appDir = await temporaryDirectory("tw-pool-app-");
    const config = await loadConfig({ appDir, env: {}, overrides: {} });
    const factory = createExecutorFactory(config);
    expect(typeof factory.dispose).toBe("function");
    await factory.dispose?.();
  });

  realKernelTest(
    "a new session takes a kernel started ahead, runs in its own directory with its artifacts there, and the pool refills",
    { timeout: 120_000 },
    async () => {
      const factory = await factoryWith({ "execution_service.warm_pool_size": 1 });
      const pool = factory.warmPool!;
      const sessionDirectory = join(await temporaryDirectory("tw-pool-session-"), "cwd");
      let executor: Awaited<ReturnType<typeof factory>> | undefined;
      try {
        await pool.settled();
        expect(pool.lastError).toBeUndefined();
        expect(pool.idleKernels).toHaveLength(1);
        const pooledPid = Number(pool.idleKernels[0]!.details.pid);
        expect(isAlive(pooledPid)).toBe(true);

        executor = await factory({ sessionId: "pooled", workingDirectory: sessionDirectory });
        await executor.setSessionVariables({ favourite: "blue" });
        const started = performance.now();
        await executor.start();
        const first = await executor.execute("1+1");
        const elapsed = performance.now() - started;
        expect(first.output).toBe("2");
        // A cold start takes about a second; binding a pooled kernel is one short execute.
        expect(elapsed).toBeLessThan(1_000);
        expect((await executor.execute("import os; os.getpid()")).output).toBe(String(pooledPid));
        expect(executor.info.details.pid).toBe(String(pooledPid));
        expect((await executor.execute("os.getcwd()")).output).toBe(`'${sessionDirectory}'`);
        // Session variables set before the kernel was taken are applied to it.
        const variable = await executor.execute(
          "__import__('_taskweaver_support')._state['session_variables']['favourite']",
        );
        expect(variable.output).toBe("'blue'");

        const figure = await executor.execute(
          "import matplotlib.pyplot as plt\nplt.figure(); plt.plot([1, 2, 3]); open('note.txt', 'w').write('hi')",
        );
        expect(figure.outcome).toBe("ok");
        expect(figure.artifacts).toHaveLength(1);
        await access(join(sessionDirectory, figure.artifacts[0]!.path));
        await access(join(sessionDirectory, "note.txt"));
        await expect(access(join(tmpdir(), "taskweaver-warm-pool", figure.artifacts[0]!.path))).rejects.toThrow();

        // The take started a replacement in the background.
        await pool.settled();
        expect(pool.idleKernels).toHaveLength(1);
        const replacementPid = Number(pool.idleKernels[0]!.details.pid);
        expect(replacementPid).not.toBe(pooledPid);
        expect(isAlive(replacementPid)).toBe(true);

        await executor.stop();
        await waitUntil(() => !isAlive(pooledPid), 10_000);
        await factory.dispose();
        await waitUntil(() => !isAlive(replacementPid), 10_000);
        expect(pool.idleKernels).toHaveLength(0);
      } finally {
        await executor?.stop();
        await factory.dispose();
      }
    },
  );

  realKernelTest(
    "stops pooled kernels left unused past the idle timeout and refills only on the next demand",
    { timeout: 120_000 },
    async () => {
      const factory = await factoryWith({
        "execution_service.warm_pool_size": 1,
        "execution_service.warm_pool_idle_timeout": 1,
      });
      const pool = factory.warmPool!;
      const sessionDirectory = await temporaryDirectory("tw-pool-session-");
      let executor: Awaited<ReturnType<typeof factory>> | undefined;
      try {
        await pool.settled();
        expect(pool.idleKernels).toHaveLength(1);
        const culledPid = Number(pool.idleKernels[0]!.details.pid);
        await waitUntil(() => pool.idleKernels.length === 0, 10_000);
        await waitUntil(() => !isAlive(culledPid), 10_000);
        // No refill loop: the pool stays empty until someone asks.
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(pool.startingCount).toBe(0);
        expect(pool.idleKernels).toHaveLength(0);

        executor = await factory({ sessionId: "after-cull", workingDirectory: sessionDirectory });
        expect((await executor.execute("6*7")).output).toBe("42");
        expect((await executor.execute("import os; os.getcwd()")).output).toBe(`'${sessionDirectory}'`);
        await pool.settled();
        expect(pool.idleKernels).toHaveLength(1);
      } finally {
        await executor?.stop();
        await factory.dispose();
      }
    },
  );

  realKernelTest(
    "dispose stops every pooled kernel, also those still starting, and later sessions start their own",
    { timeout: 120_000 },
    async () => {
      const before = new Set(trackedKernelProcessGroups());
      const factory = await factoryWith({ "execution_service.warm_pool_size": 2 });
      const pool = factory.warmPool!;
      expect(pool.startingCount).toBe(2);
      await factory.dispose();
      await pool.settled();
      expect(pool.idleKernels).toHaveLength(0);
      const leftovers = trackedKernelProcessGroups().filter((pid) => !before.has(pid));
      expect(leftovers).toEqual([]);

      const sessionDirectory = await temporaryDirectory("tw-pool-session-");
      const executor = await factory({ sessionId: "after-dispose", workingDirectory: sessionDirectory });
      try {
        expect((await executor.execute("1+1")).output).toBe("2");
        expect(pool.idleKernels).toHaveLength(0);
        expect(pool.startingCount).toBe(0);
      } finally {
        await executor.stop();
      }
    },
  );

  realKernelTest(
    "a pooled kernel whose setup fails is stopped, reported in lastError, and the waiting session starts its own kernel",
    { timeout: 120_000 },
    async () => {
      const before = new Set(trackedKernelProcessGroups());
      const launcher = createLocalKernelLauncher({ resolvePython: () => Promise.resolve(python!) });
      const pool = createWarmPool({
        launcher,
        size: 1,
        poolDirectory: join(tmpdir(), "taskweaver-warm-pool"),
        // Not a pid: install() fails in Python, as a broken support code would.
        supportOptions: { parent_pid: "not-a-pid" as unknown as number },
      });
      const sessionDirectory = await temporaryDirectory("tw-pool-session-");
      const pooledExecutor = createLocalExecutor({ workingDirectory: sessionDirectory, launcher: pool });
      try {
        pool.fill();
        // Waits for the pooled kernel on its way, which fails, then starts a kernel of its own.
        expect((await pooledExecutor.execute("import os; os.getcwd()")).output).toBe(`'${sessionDirectory}'`);
        await pool.settled();
        expect((pool.lastError as Error).message).toContain("Setting up a pooled kernel failed");
        expect((pool.lastError as Error).message).toContain("ValueError");
        expect(pool.idleKernels).toHaveLength(0);
        await pooledExecutor.stop();
        await pool.dispose();
        expect(trackedKernelProcessGroups().filter((pid) => !before.has(pid))).toEqual([]);
      } finally {
        await pooledExecutor.stop();
        await pool.dispose();
      }
    },
  );

  realKernelTest(
    "hands a pooled kernel the launch's target through relocate; one that cannot move is stopped and a fresh kernel serves",
    { timeout: 120_000 },
    async () => {
      const base = createLocalKernelLauncher({ resolvePython: () => Promise.resolve(python!) });
      const targets: LaunchOptions[] = [];
      let refuse = false;
      // A runtime whose kernels must move before use (as Docker and remote kernels do).
      const launcher: KernelLauncher = {
        async launch(options) {
          const kernel = await base.launch(options);
          return {
            ...kernel,
            relocate: async (target) => {
              targets.push(target);
              if (refuse) throw new Error("cannot move this kernel");
            },
          };
        },
      };
      const pool = createWarmPool({ launcher, size: 1, poolDirectory: await temporaryDirectory("tw-pool-dir-") });
      const first = await temporaryDirectory("tw-pool-session-");
      const second = await temporaryDirectory("tw-pool-session-");
      const executors = [first, second].map((workingDirectory) =>
        createLocalExecutor({ workingDirectory, launcher: pool }),
      );
      try {
        pool.fill();
        await pool.settled();
        const pooledPid = pool.idleKernels[0]!.details.pid;
        await executors[0]!.start();
        expect(executors[0]!.info.details.pid).toBe(pooledPid);
        expect(targets).toEqual([
          { workingDirectory: first, hostWorkingDirectory: first, signal: undefined, fileSizeLimitBytes: DEFAULT_MAX_WORKDIR_BYTES },
        ]);
        expect((await executors[0]!.execute("import os; os.getcwd()")).output).toBe(`'${first}'`);

        await pool.settled();
        refuse = true;
        const refusedPid = pool.idleKernels[0]!.details.pid!;
        expect((await executors[1]!.execute("import os; os.getcwd()")).output).toBe(`'${second}'`);
        expect(executors[1]!.info.details.pid).not.toBe(refusedPid);
        expect((pool.lastError as Error).message).toBe("cannot move this kernel");
        await waitUntil(() => !isAlive(Number(refusedPid)), 10_000);
      } finally {
        await Promise.all(executors.map((executor) => executor.stop()));
        await pool.dispose();
      }
    },
  );

  realKernelTest("pooled kernels die with a host that exits", { timeout: 120_000 }, async () => {
    const localExecutorModule = join(dirname(fileURLToPath(import.meta.url)), "local", "local-executor.ts");
    const coreModule = fileURLToPath(import.meta.resolve("@taskweaver/core"));
    const appDir = await temporaryDirectory("tw-pool-host-");
    const script = [
      `import { loadConfig } from ${JSON.stringify(coreModule)};`,
      `import { createLocalExecutorFactory } from ${JSON.stringify(localExecutorModule)};`,
      `const config = await loadConfig({ appDir: ${JSON.stringify(appDir)}, env: {}, overrides: { "execution_service.python": ${JSON.stringify(python)}, "execution_service.warm_pool_size": 2 } });`,
      "const factory = createLocalExecutorFactory(config);",
      "await factory.warmPool.settled();",
      "console.log('POOL_PIDS=' + factory.warmPool.idleKernels.map((kernel) => kernel.details.pid).join(','));",
      "setTimeout(() => process.exit(0), 500);",
    ].join("\n");
    const host = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    host.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    host.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => host.once("exit", resolve));
    const match = /POOL_PIDS=(\d+),(\d+)/.exec(output);
    expect(match, output).not.toBeNull();
    expect(code).toBe(0);
    const pids = [Number(match![1]), Number(match![2])];
    await waitUntil(() => pids.every((pid) => !isAlive(pid)), 10_000);
  });

  realKernelTest(
    "a session cancelled while waiting for a pooled kernel starts none, and the kernel stays in the pool",
    { timeout: 120_000 },
    async () => {
      const before = trackedKernelProcessGroups().length;
      const factory = await factoryWith({ "execution_service.warm_pool_size": 1 });
      const pool = factory.warmPool!;
      const executor = await factory({
        sessionId: "cancelled",
        workingDirectory: await temporaryDirectory("tw-pool-session-"),
      });
      try {
        expect(pool.startingCount).toBe(1);
        const controller = new AbortController();
        const start = executor.start({ signal: controller.signal });
        controller.abort();
        await expect(start).rejects.toMatchObject({ code: "aborted" });
        await pool.settled();
        // The pooled kernel was not taken, and no other kernel is left running for the session.
        expect(pool.idleKernels).toHaveLength(1);
        expect(executor.info.details.pid).toBeUndefined();
        expect(trackedKernelProcessGroups()).toHaveLength(before + 1);
      } finally {
        await executor.stop();
        await factory.dispose();
      }
    },
  );
});
