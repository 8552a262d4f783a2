// What the API's scale-out needs of the remote runtime, against a real `jupyter server` on
// 127.0.0.1: attaching to a kernel an earlier process started (variables kept), falling back to
// a fresh kernel when it is gone, leaving the kernel running on a graceful stop, the
// `KERNEL_USERNAME`/`KERNEL_NAMESPACE` start environment Enterprise Gateway reads, and files
// through the kernel as on a gateway without a Contents API. Jupyter Enterprise Gateway itself
// was not available on this machine.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type CodeExecutor } from "@taskweaver/core";
import { createRemoteExecutor, createRemoteExecutorFactory } from "@taskweaver/executor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  jupyterServerUnavailableReason,
  startJupyterServer,
  type JupyterServer,
} from "../src/jupyter-server.js";

const unavailableReason = jupyterServerUnavailableReason();
const runOrFail = unavailableReason === undefined || process.env.CI === "true";

let server: JupyterServer;
const executors: CodeExecutor[] = [];
const kernelStartBodies: unknown[] = [];

/** fetch that records the bodies of `POST /api/kernels`. */
const recordingFetch: typeof fetch = async (input, init) => {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  if (init?.method === "POST" && /\/api\/kernels$/.test(url) && typeof init.body === "string")
    kernelStartBodies.push(JSON.parse(init.body));
  return fetch(input, init);
};

async function listKernelIds(): Promise<string[]> {
  const answer = await fetch(`${server.url}api/kernels`, {
    headers: { authorization: `token ${server.token}` },
  });
  return ((await answer.json()) as { id: string }[]).map((kernel) => kernel.id);
}

function track(executor: CodeExecutor): CodeExecutor {
  executors.push(executor);
  return executor;
}

describe.runIf(runOrFail)("remote kernels that outlive their executor, on a real jupyter server", () => {
  beforeAll(async () => {
    if (unavailableReason !== undefined)
      throw new Error(`jupyter server cannot run here: ${unavailableReason}`);
    server = await startJupyterServer();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(executors.map((executor) => executor.stop().catch(() => undefined)));
    await server?.close();
  }, 60_000);

  it("attaches to a kernel left running by a stopped executor and keeps its variables", async () => {
    const started: { kernelId: string; attached: boolean }[] = [];
    const first = track(
      createRemoteExecutor({
        url: server.url,
        token: server.token,
        sessionId: "attach",
        keepKernelOnStop: true,
        onKernelStarted: (kernel) => started.push(kernel),
      }),
    );
    expect((await first.execute("y = 5\nprint('set')")).stdout.join("")).toContain("set");
    await first.stop();
    const kernelId = started[0]!.kernelId;
    expect(started).toEqual([{ kernelId, attached: false }]);
    // A graceful stop only disconnects.
    expect(await listKernelIds()).toContain(kernelId);

    const second = track(
      createRemoteExecutor({
        url: server.url,
        token: server.token,
        sessionId: "attach",
        kernelId,
        keepKernelOnStop: true,
        onKernelStarted: (kernel) => started.push(kernel),
      }),
    );
    const result = await second.execute("print(y * 2)");
    expect(result.stdout.join("")).toContain("10");
    expect(started.at(-1)).toEqual({ kernelId, attached: true });
    await second.stop();
    expect(await listKernelIds()).toContain(kernelId);
  }, 90_000);

  it("starts a fresh kernel when the one to attach to is gone", async () => {
    const started: { kernelId: string; attached: boolean }[] = [];
    const executor = track(
      createRemoteExecutor({
        url: server.url,
        token: server.token,
        sessionId: "gone",
        kernelId: "00000000-0000-0000-0000-000000000000",
        onKernelStarted: (kernel) => started.push(kernel),
      }),
    );
    const result = await executor.execute("print('fresh' if 'y' not in globals() else 'old')");
    expect(result.stdout.join("")).toContain("fresh");
    expect(started).toHaveLength(1);
    expect(started[0]!.attached).toBe(false);
    expect(started[0]!.kernelId).not.toBe("00000000-0000-0000-0000-000000000000");
    // Without keepKernelOnStop the kernel is deleted as before.
    await executor.stop();
    expect(await listKernelIds()).not.toContain(started[0]!.kernelId);
  }, 90_000);

  it("sends KERNEL_USERNAME and KERNEL_NAMESPACE at kernel start, and moves files through the kernel", async () => {
    const appDir = mkdtempSync(join(tmpdir(), "tw-gateway-"));
    try {
      writeFileSync(join(appDir, "taskweaver_config.json"), "{}");
      const config = loadConfig({
        appDir,
        env: {},
        overrides: {
          "execution_service.remote.url": server.url,
          "execution_service.remote.token": server.token,
          "execution_service.remote.kernel_username": "alice",
          "execution_service.remote.kernel_namespace": "taskweaver-kernels",
        },
      });
      const factory = createRemoteExecutorFactory(config, { env: {}, fetch: recordingFetch });
      const configured = track(await factory({ sessionId: "gateway", workingDirectory: appDir }));
      await configured.start();
      expect(kernelStartBodies).toEqual([
        expect.objectContaining({
          env: { KERNEL_USERNAME: "alice", KERNEL_NAMESPACE: "taskweaver-kernels" },
        }),
      ]);
      await configured.stop();
      // As on Enterprise Gateway, which has no Contents API: files go through the kernel.
      const executor = track(
        createRemoteExecutor({
          url: server.url,
          token: server.token,
          sessionId: "kernel-files",
          files: "kernel",
        }),
      );
      await executor.uploadFile("input.txt", new TextEncoder().encode("through the kernel"));
      expect((await executor.execute("print(open('input.txt').read().upper())")).stdout.join("")).toContain(
        "THROUGH THE KERNEL",
      );
      await executor.execute("open('output.txt', 'w').write('written by code')");
      expect(new TextDecoder().decode(await executor.downloadFile("output.txt"))).toBe("written by code");
      await executor.stop();
    } finally {
      rmSync(appDir, { recursive: true, force: true });
    }
    // Without a username configured, the default is sent and no namespace.
    const defaults = createRemoteExecutorFactory(
      loadConfig({
        appDir: tmpdir(),
        env: {},
        overrides: {
          "execution_service.remote.url": server.url,
          "execution_service.remote.token": server.token,
        },
      }),
      { env: {}, fetch: recordingFetch },
    );
    const plain = track(await defaults({ sessionId: "defaults", workingDirectory: tmpdir() }));
    await plain.start();
    expect(kernelStartBodies.at(-1)).toMatchObject({ env: { KERNEL_USERNAME: "taskweaver" } });
    expect((kernelStartBodies.at(-1) as { env: Record<string, string> }).env).not.toHaveProperty(
      "KERNEL_NAMESPACE",
    );
    await plain.stop();
  }, 90_000);
});
