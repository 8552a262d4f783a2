// The warm pool of the Docker runtime against a real engine: containers started ahead, each with
// a folder of its own that becomes the session's folder when a session takes the container.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { loadConfig, type CodeExecutor } from "@taskweaver/core";
import { afterAll, describe, expect, test } from "vitest";
import { describeConformance } from "../../packages/executor/src/conformance/describe-conformance.js";
import {
  createDockerExecutor,
  createDockerExecutorFactory,
  createDockerKernelLauncher,
  defaultContainerOptions,
  dockerPoolDirectory,
} from "../../packages/executor/src/docker/index.js";
import { HOST_PID_LABEL, SESSION_LABEL } from "../../packages/executor/src/docker/container-options.js";
import { createWarmPool, type WarmPool } from "../../packages/executor/src/warm-pool.js";
import { dockerTestGate, requireEngine } from "./docker-support.js";
import { runFirstPooledCell } from "./warm-pool-support.js";

const engine = await dockerTestGate("docker-warm-pool.test.ts");
const directories: string[] = [];
afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

/** Containers of this process's warm pools that still exist. */
async function pooledContainers(): Promise<string[]> {
  const containers = await requireEngine(engine).listContainers([
    `${SESSION_LABEL}=warm-pool`,
    `${HOST_PID_LABEL}=${process.pid}`,
  ]);
  return containers.map((container) => container.Id);
}

describe.skipIf(engine.skip)("the Docker warm pool", () => {
  test(
    "a session takes a container started ahead: its files, uploads made before the start and artifacts all live in the session's folder",
    { timeout: 240_000 },
    async () => {
      requireEngine(engine);
      const appDir = await mkdtemp(join(tmpdir(), "tw-docker-pool-app-"));
      directories.push(appDir);
      const config = await loadConfig({
        appDir,
        env: {},
        overrides: {
          "execution_service.kernel_mode": "container",
          "execution_service.custom_image": engine.image,
          "execution_service.warm_pool_size": 1,
          // Pooled containers of spawned kernels: a restart takes the next one ("auto" forks in
          // a pooled container; src/docker/fork-conformance.test.ts covers that).
          "execution_service.kernel_start": "spawn",
        },
      });
      const poolRoot = dockerPoolDirectory(config);
      // A folder left by a host that died: removed when the factory starts.
      mkdirSync(join(poolRoot, "2147483646-stale1"), { recursive: true });
      writeFileSync(join(poolRoot, "2147483646-stale1", "left.txt"), "x");

      const factory = createDockerExecutorFactory(config);
      const pool = factory.warmPool!;
      let executor: CodeExecutor | undefined;
      try {
        await pool.settled();
        expect(pool.lastError).toBeUndefined();
        expect(pool.idleKernels).toHaveLength(1);
        const pooledId = pool.idleKernels[0]!.details.containerId;
        const [pooledFolder] = readdirSync(poolRoot);
        expect(pooledFolder).toMatch(new RegExp(`^${process.pid}-`));

        // The session's folder exists already, with a file attached before the kernel starts.
        const workingDirectory = join(appDir, "workspace", "sessions", "s1", "cwd");
        mkdirSync(workingDirectory, { recursive: true });
        writeFileSync(join(workingDirectory, "attached.csv"), "region,revenue\nNorth,3\nSouth,4\n");
        executor = await factory({ sessionId: "s1", workingDirectory });
        const first = await runFirstPooledCell(executor, "attached.csv", "frame.revenue");
        expect(first.output).toBe("7");
        expect(first.stdout.join("").trim()).toBe(defaultContainerOptions().containerWorkingDirectory);
        expect(executor.info.details.containerId).toBe(pooledId);
        // Named after the session that took it, for `docker ps` (in the background: no wait for it).
        await expect.poll(() => executor!.info.details.containerName).toMatch(/^taskweaver-s1-[0-9a-f]{8}$/);
        expect((await requireEngine(engine).inspectContainer(pooledId!))?.Name).toBe(
          `/${executor.info.details.containerName}`,
        );
        expect(readFileSync(join(workingDirectory, "made-in-kernel.txt"), "utf8")).toBe("hello");

        const plot = await executor.execute("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()");
        const image = plot.artifacts.find((artifact) => artifact.type === "image");
        expect(existsSync(join(workingDirectory, image!.path))).toBe(true);
        await executor.uploadFile("later.txt", new TextEncoder().encode("uploaded after the start"));
        expect((await executor.execute("open('later.txt').read()")).output).toBe("'uploaded after the start'");

        // The taken folder is the session's now; the replacement has a new folder.
        await pool.settled();
        expect(pool.idleKernels).toHaveLength(1);
        const replacementId = pool.idleKernels[0]!.details.containerId;
        expect(readdirSync(poolRoot)).not.toContain(pooledFolder);
        expect(readdirSync(poolRoot)).not.toContain("2147483646-stale1");
        expect(readdirSync(poolRoot)).toHaveLength(1);

        // A restart takes the next pooled container; the session's files move with it.
        await executor.restart();
        expect(executor.info.details.containerId).toBe(replacementId);
        const after = await executor.execute(
          "import os\nsorted(name for name in os.listdir('.') if name.endswith(('.txt', '.csv')))",
        );
        expect(after.output).toBe(`['attached.csv', 'later.txt', 'made-in-kernel.txt']`);
        expect((await executor.execute("open('attached.csv').read().splitlines()[0]")).output).toBe("'region,revenue'");
        expect(readdirSync(workingDirectory)).toEqual(expect.arrayContaining(["attached.csv", "later.txt", image!.path]));

        await executor.stop();
        // Stopping the session's container leaves the session's folder.
        expect(readFileSync(join(workingDirectory, "made-in-kernel.txt"), "utf8")).toBe("hello");
      } finally {
        await executor?.stop();
        await factory.dispose();
      }
      expect(await pooledContainers()).toEqual([]);
      expect(readdirSync(poolRoot)).toEqual([]);
    },
  );
});

// The whole conformance suite on executors whose kernels come from a Docker warm pool, so pooled
// containers (and their restarts, which take the next pooled container) behave like cold ones.
let conformancePool: WarmPool | undefined;
afterAll(async () => {
  await conformancePool?.dispose();
}, 60_000);

describeConformance(
  "docker (warm pool)",
  async ({ workingDirectory, maxOutputChars, interruptGraceMs }) => {
    const client = requireEngine(engine);
    const security = defaultContainerOptions({ image: engine.image });
    if (conformancePool === undefined) {
      // Beside the suite's session folders (same file system, so the folders can be renamed).
      const poolDirectory = join(tmpdir(), `tw-docker-pool-conformance-${process.pid}`);
      directories.push(poolDirectory);
      conformancePool = createWarmPool({
        launcher: createDockerKernelLauncher({ client, security, poolDirectory, sessionId: "warm-pool" }),
        size: 1,
        poolDirectory: security.containerWorkingDirectory,
        supportOptions: { max_output_chars: maxOutputChars },
      });
      conformancePool.fill();
    }
    return createDockerExecutor({
      workingDirectory,
      sessionId: basename(workingDirectory),
      security,
      client,
      launcher: conformancePool,
      maxOutputChars,
      interruptGraceMs,
    });
  },
  { unavailableReason: engine.available ? undefined : engine.reason, testTimeoutMs: 180_000 },
);
