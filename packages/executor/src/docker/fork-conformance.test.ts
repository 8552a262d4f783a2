// kernel_start "fork" in the container runtime, on a real engine: the container's main process
// is the fork template, the kernels are forked in it, a restart forks again in the same container.
import { chmodSync, cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { loadConfig, TaskWeaverError, type CodeExecutor } from "@taskweaver/core";
import { afterAll, describe, expect, test } from "vitest";
import { describeConformance, describeWorkdirLimitConformance } from "../conformance/describe-conformance.js";
import { pythonFilePath } from "../python-files.js";
import { createWarmPool } from "../warm-pool.js";
import { defaultContainerOptions, DEFAULT_EXECUTOR_IMAGE } from "./container-options.js";
import {
  createDockerExecutor,
  createDockerExecutorFactory,
  createDockerKernelLauncher,
  type DockerExecutorOptions,
} from "./docker-executor.js";
import { createDockerEngineClient, type DockerEngineClient } from "./engine-client.js";
import type { KernelContainer } from "./kernel-container.js";

const image = process.env.TASKWEAVER_TEST_IMAGE ?? DEFAULT_EXECUTOR_IMAGE;

/** The engine of DOCKER_HOST (scripts/docker-engine.sh prints it) with the executor image, or why not. */
async function findEngine(): Promise<{ client?: DockerEngineClient; reason?: string }> {
  try {
    const client = createDockerEngineClient();
    await client.ping({ timeoutMs: 3_000 });
    if (!(await client.imageExists(image))) return { reason: `the image ${image} is missing (packages/executor/docker/build-image.sh)` };
    return { client };
  } catch (error) {
    return { reason: TaskWeaverError.isInstance(error) ? error.message : String(error) };
  }
}

const engine = await findEngine();
const unavailableReason = engine.reason;
const skip = unavailableReason !== undefined && process.env.CI !== "true";
if (skip) console.warn(`\n*** SKIPPING the Docker fork tests: ${unavailableReason} ***\n`);

const directories: string[] = [];
afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});
const newDirectory = (prefix: string) => {
  const directory = mkdtempSync(join(tmpdir(), prefix));
  directories.push(directory);
  return directory;
};

function forkingExecutor(options: Partial<DockerExecutorOptions> & { containers?: KernelContainer[] } = {}): CodeExecutor {
  const { containers, ...rest } = options;
  return createDockerExecutor({
    workingDirectory: newDirectory("tw-docker-fork-"),
    client: engine.client,
    kernelStart: "fork",
    onContainer: (container) => containers?.push(container),
    ...rest,
    security: { image, ...rest.security },
  });
}

describeConformance(
  "docker (kernels forked from a template in the container)",
  ({ workingDirectory, maxOutputChars, interruptGraceMs }) =>
    forkingExecutor({ workingDirectory, maxOutputChars, interruptGraceMs }),
  { unavailableReason, testTimeoutMs: 180_000 },
);

describeWorkdirLimitConformance(
  "docker (kernels forked from a template in the container)",
  ({ workingDirectory, maxWorkdirBytes, interruptGraceMs }) =>
    forkingExecutor({ workingDirectory, maxWorkdirBytes, interruptGraceMs }),
  { unavailableReason, testTimeoutMs: 180_000 },
);

describe.skipIf(skip)("kernels forked in a container", () => {
  test(
    "start with pandas imported; a restart forks a fresh kernel in the same container, fast; an interrupt leaves the template",
    { timeout: 180_000 },
    async () => {
      const containers: KernelContainer[] = [];
      const executor = forkingExecutor({ containers });
      try {
        const first = await executor.execute("import sys, os\n('pandas' in sys.modules, os.getcwd())");
        expect(first.output).toBe(`(True, '${defaultContainerOptions().containerWorkingDirectory}')`);
        expect(executor.info.details.start).toBe("fork");
        const { containerId, pid } = executor.info.details;
        await executor.execute("kept = 41");

        const interrupted = await executor.execute("import time\nwhile True:\n    time.sleep(0.05)", { timeoutMs: 1_000 });
        expect(interrupted.outcome).toBe("timeout");
        expect(interrupted.stateLost).toBe(false);
        expect((await executor.execute("kept + 1")).output).toBe("42");
        expect(executor.info.details.pid).toBe(pid);

        const started = performance.now();
        await executor.restart();
        const restartMs = performance.now() - started;
        const after = await executor.execute("'kept' in dir()");
        expect(after.output).toBe("False");
        expect(executor.info.details.containerId).toBe(containerId);
        expect(executor.info.details.pid).not.toBe(pid);
        expect(containers).toHaveLength(1);
        // A container start with its template takes seconds; a fork, tens of milliseconds.
        expect(restartMs).toBeLessThan(2_000);

        // A kernel that dies is replaced by a fork in the same container too.
        const died = await executor.execute("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)");
        expect(died.outcome).toBe("kernel-died");
        expect((await executor.execute("6 * 7")).output).toBe("42");
        expect(executor.info.details.containerId).toBe(containerId);
      } finally {
        await executor.stop();
      }
      expect(await engine.client!.inspectContainer(containers[0]!.id)).toBeUndefined();
    },
  );

  test(
    "the template's death ends its kernel, is reported like the container's, and the next kernel gets a new container",
    { timeout: 180_000 },
    async () => {
      const containers: KernelContainer[] = [];
      const executor = forkingExecutor({ containers });
      try {
        await executor.execute("kept = 1");
        const died = await executor.execute("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nimport time\ntime.sleep(30)");
        expect(died.outcome).toBe("kernel-died");
        expect(died.stateLost).toBe(true);
        expect(died.notes.join(" ")).toMatch(/kernel template process exited with code 137/);
        const next = await executor.execute("'kept' in dir()");
        expect(next.output).toBe("False");
        expect(containers).toHaveLength(2);
        expect(executor.info.details.containerId).toBe(containers[1]!.id.slice(0, 12));
        await expect.poll(() => engine.client!.inspectContainer(containers[0]!.id), { timeout: 15_000 }).toBeUndefined();
      } finally {
        await executor.stop();
      }
    },
  );

  test(
    "a kernel over the memory limit is reported as died of it, and the next one is forked in the same container",
    { timeout: 180_000 },
    async () => {
      const containers: KernelContainer[] = [];
      const executor = forkingExecutor({ containers, security: { image, memoryBytes: 384 * 1024 ** 2 } });
      try {
        await executor.execute("kept = 1");
        const result = await executor.execute("blocks = [b'x' * (64 * 1024 * 1024) for _ in range(12)]\nlen(blocks)");
        expect(result.outcome).toBe("kernel-died");
        expect(result.notes.join(" ")).toMatch(/ran out of memory \(limit 384 MiB/);
        const next = await executor.execute("'kept' in dir()");
        expect(next.output).toBe("False");
        expect(containers).toHaveLength(1);
      } finally {
        await executor.stop();
      }
    },
  );

  test(
    "a template that cannot start is given up, said once, and the kernels run ipykernel directly",
    { timeout: 180_000 },
    async () => {
      // The package's python/ folder, with a template that fails as one whose imports fail does.
      const broken = newDirectory("tw-docker-broken-template-");
      cpSync(dirname(pythonFilePath("taskweaver_support.py")), broken, { recursive: true });
      // Readable by the container's user, as the package's own folder is.
      chmodSync(broken, 0o755);
      writeFileSync(join(broken, "taskweaver_fork_server.py"), "import sys\nsys.stderr.write('cannot import zmq\\n')\nsys.exit(3)\n");
      const warnings: string[] = [];
      const containers: KernelContainer[] = [];
      const launcher = createDockerKernelLauncher({
        client: engine.client,
        security: defaultContainerOptions({ image }),
        kernelStart: "fork",
        pythonDirectory: broken,
        onWarning: (message) => warnings.push(message),
        onContainer: (container) => containers.push(container),
      });
      const executor = createDockerExecutor({ workingDirectory: newDirectory("tw-docker-fallback-"), launcher });
      try {
        expect((await executor.execute("1 + 1")).output).toBe("2");
        expect(executor.info.details.start).toBeUndefined();
        await executor.restart();
        expect((await executor.execute("2 + 2")).output).toBe("4");
        expect(launcher.fellBack).toBe(true);
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(/instead of forking kernels from a template: .*exited during start-up.*cannot import zmq/s);
        // Each start a container of its own, as with kernel_start "spawn".
        expect(containers).toHaveLength(2);
        expect(containers.every((container) => container.mode.kind === "kernel")).toBe(true);
      } finally {
        await executor.stop();
      }
    },
  );

  test(
    "a warm pool hands out containers whose template imported pandas ahead, and a restart stays in the session's container",
    { timeout: 240_000 },
    async () => {
      const poolDirectory = newDirectory("tw-docker-fork-pool-");
      const launcher = createDockerKernelLauncher({
        client: engine.client,
        security: defaultContainerOptions({ image }),
        poolDirectory,
        sessionId: "warm-pool",
        kernelStart: "fork",
        supportOptions: { max_output_chars: 100_000 },
      });
      const pool = createWarmPool({
        launcher,
        size: 1,
        poolDirectory: defaultContainerOptions().containerWorkingDirectory,
        supportOptions: { max_output_chars: 100_000 },
      });
      pool.fill();
      const workingDirectory = join(poolDirectory, "..", `tw-docker-fork-session-${process.pid}`);
      directories.push(workingDirectory);
      const executor = createDockerExecutor({ workingDirectory, launcher: pool, templates: launcher, sessionId: "s1" });
      try {
        await pool.settled();
        const pooledId = pool.idleKernels[0]!.details.containerId;
        const started = performance.now();
        const first = await executor.execute('import pandas as pd; pd.DataFrame({"a": [1]}).shape');
        const firstMs = performance.now() - started;
        expect(first.output).toBe("(1, 1)");
        expect(executor.info.details.containerId).toBe(pooledId);
        // pandas is in the template already: no second of imports in the session.
        expect(firstMs).toBeLessThan(1_000);
        await executor.restart();
        expect(executor.info.details.containerId).toBe(pooledId);
        expect((await executor.execute("'pd' in dir()")).output).toBe("False");
      } finally {
        await executor.stop();
        await pool.dispose();
      }
    },
  );

  test("the app factory forks with kernel_start fork, and dispose() leaves no container", { timeout: 180_000 }, async () => {
    const appDir = await mkdtemp(join(tmpdir(), "tw-docker-fork-app-"));
    directories.push(appDir);
    const config = loadConfig({
      appDir,
      env: {},
      overrides: {
        "execution_service.kernel_mode": "container",
        "execution_service.custom_image": image,
        "execution_service.kernel_start": "fork",
      },
    });
    const factory = createDockerExecutorFactory(config);
    const executor = await factory({ sessionId: "fork-app", workingDirectory: join(appDir, "cwd") });
    try {
      expect((await executor.execute("import sys\n'numpy' in sys.modules")).output).toBe("True");
      expect(executor.info.details.start).toBe("fork");
    } finally {
      await executor.stop();
      await factory.dispose();
    }
    rmSync(join(appDir, "cwd"), { recursive: true, force: true });
  });
});
