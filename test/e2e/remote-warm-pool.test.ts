// The warm pool of the remote runtime against a real `jupyter server`: kernels started ahead in
// the pool's folder on the server, moved into a session's folder when a session takes one.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { loadConfig, type CodeExecutor } from "@taskweaver/core";
import { describeConformance } from "@taskweaver/executor/conformance";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  createRemoteExecutor,
  createRemoteExecutorFactory,
  createRemoteKernelLauncher,
  createWarmPool,
  type WarmPool,
} from "@taskweaver/executor";
import { createJupyterRestClient } from "@taskweaver/executor/internal";
import { jupyterServerUnavailableReason, startJupyterServer, type JupyterServer } from "../src/jupyter-server.js";
import { runFirstPooledCell } from "./warm-pool-support.js";

const unavailableReason = jupyterServerUnavailableReason();
const runOrFail = unavailableReason === undefined || process.env.CI === "true";
let server: JupyterServer | undefined;
let conformancePool: WarmPool | undefined;

beforeAll(async () => {
  if (unavailableReason === undefined) server = await startJupyterServer();
}, 60_000);
afterAll(async () => {
  await conformancePool?.dispose();
  await server?.close();
}, 60_000);

async function serverKernelIds(): Promise<string[]> {
  const response = await fetch(`${server!.url}api/kernels`, { headers: { Authorization: `token ${server!.token}` } });
  return ((await response.json()) as { id: string }[]).map((kernel) => kernel.id);
}

describe.skipIf(!runOrFail)("the remote warm pool", () => {
  test(
    "a session takes a kernel started ahead, which moves into the session's folder with its files and artifacts",
    { timeout: 120_000 },
    async () => {
      if (server === undefined) throw new Error(`The remote warm pool needs jupyter server: ${unavailableReason}`);
      const appDir = mkdtempSync(join(tmpdir(), "tw-remote-pool-app-"));
      const config = loadConfig({
        appDir,
        env: {},
        overrides: {
          "execution_service.kernel_mode": "remote",
          "execution_service.remote.url": server.url,
          "execution_service.warm_pool_size": 1,
        },
      });
      const factory = createRemoteExecutorFactory(config, { env: { JUPYTER_TOKEN: server.token } });
      const pool = factory.warmPool!;
      let executor: CodeExecutor | undefined;
      try {
        await pool.settled();
        expect(pool.lastError).toBeUndefined();
        expect(pool.idleKernels).toHaveLength(1);
        const pooledKernel = pool.idleKernels[0]!.details.kernelId!;
        expect(existsSync(join(server.rootDir, "taskweaver", "_warm_pool"))).toBe(true);

        executor = await factory({ sessionId: "s1", workingDirectory: join(appDir, "unused") });
        // Uploaded through the Contents API before the kernel starts.
        await executor.uploadFile("data/input.csv", new TextEncoder().encode("a,b\n1,2\n3,4\n"));
        const first = await runFirstPooledCell(executor, "data/input.csv", "frame.a + frame.b");
        expect(first.output).toBe("10");
        expect(first.stdout.join("").trim()).toBe(join(server.rootDir, "taskweaver", "s1"));
        expect(executor.info.details.kernelId).toBe(pooledKernel);
        expect(executor.info.details.workingDirectory).toBe("taskweaver/s1");
        expect(readFileSync(join(server.rootDir, "taskweaver", "s1", "made-in-kernel.txt"), "utf8")).toBe("hello");

        const plot = await executor.execute("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()");
        const image = plot.artifacts.find((artifact) => artifact.type === "image");
        expect(existsSync(join(server.rootDir, "taskweaver", "s1", image!.path))).toBe(true);
        const names = (await executor.listFiles()).map((file) => file.name);
        expect(names).toEqual(expect.arrayContaining(["data/input.csv", "made-in-kernel.txt", image!.path]));
        expect(new TextDecoder().decode(await executor.downloadFile("made-in-kernel.txt"))).toBe("hello");
        // Nothing of the session's landed in the pool's folder.
        expect(readdirSync(join(server.rootDir, "taskweaver", "_warm_pool"))).toEqual([]);

        // A restart takes the next pooled kernel, which moves into the same folder.
        await pool.settled();
        const replacement = pool.idleKernels[0]!.details.kernelId!;
        await executor.restart();
        expect(executor.info.details.kernelId).toBe(replacement);
        expect((await executor.execute("open('made-in-kernel.txt').read()")).output).toBe("'hello'");
        expect(await serverKernelIds()).not.toContain(pooledKernel);
      } finally {
        await executor?.stop();
        await factory.dispose();
        rmSync(appDir, { recursive: true, force: true });
      }
      expect(await serverKernelIds()).toEqual([]);
    },
  );
});

// The whole conformance suite on remote executors whose kernels come from a warm pool.
describeConformance(
  "remote (warm pool)",
  ({ workingDirectory, maxOutputChars, interruptGraceMs }) => {
    const url = server!.url;
    if (conformancePool === undefined) {
      const rest = createJupyterRestClient({ baseUrl: new URL(url), token: server!.token });
      conformancePool = createWarmPool({
        launcher: createRemoteKernelLauncher({
          rest,
          token: server!.token,
          workingDirectory: "pool",
          hasContentsApi: () => Promise.resolve(false),
        }),
        size: 1,
        poolDirectory: "",
        supportOptions: { max_output_chars: maxOutputChars },
      });
      conformancePool.fill();
    }
    return createRemoteExecutor({
      url,
      token: server!.token,
      sessionId: basename(workingDirectory),
      maxOutputChars,
      interruptGraceMs,
      launcher: conformancePool,
    });
  },
  { unavailableReason },
);
