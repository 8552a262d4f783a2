// What is specific to the remote runtime, against a real `jupyter server`: auth and
// reachability errors, the server-side working directory, files through the Contents API and
// through the kernel (as on Kernel Gateway), kernel clean-up, and the factory wiring.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig, TaskWeaverError, type CodeExecutor } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// The remote runtime is not exported from the package entry yet (see the remote runtime's report).
import {
  createRemoteExecutor,
  createRemoteExecutorFactory,
} from "../../packages/executor/src/remote/index.js";
import {
  jupyterServerUnavailableReason,
  startJupyterServer,
  type JupyterServer,
} from "../src/jupyter-server.js";

const unavailableReason = jupyterServerUnavailableReason();
const runOrFail = unavailableReason === undefined || process.env.CI === "true";

let server: JupyterServer;
const executors: CodeExecutor[] = [];
function track<T extends CodeExecutor>(executor: T): T {
  executors.push(executor);
  return executor;
}

async function caught(promise: Promise<unknown>): Promise<TaskWeaverError> {
  const error = await promise.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(TaskWeaverError.isInstance(error), `expected a TaskWeaverError, got ${String(error)}`).toBe(true);
  return error as TaskWeaverError;
}

async function serverKernelIds(): Promise<string[]> {
  const response = await fetch(`${server.url}api/kernels`, {
    headers: { Authorization: `token ${server.token}` },
  });
  return ((await response.json()) as { id: string }[]).map((kernel) => kernel.id);
}

async function unusedPort(): Promise<number> {
  return await new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address ? address.port : 1));
    });
  });
}

/** A TCP proxy in front of the server whose connections the test can cut, like a network blip. */
async function startCuttableProxy(
  targetPort: number,
): Promise<{ url: string; cutAll(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const proxy = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => undefined);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const address = proxy.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const cutAll = () => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    url: `http://127.0.0.1:${port}/`,
    cutAll,
    close: () =>
      new Promise<void>((resolve) => {
        cutAll();
        proxy.close(() => resolve());
      }),
  };
}

describe.runIf(runOrFail)("remote runtime on a real jupyter server", () => {
  beforeAll(async () => {
    if (unavailableReason !== undefined)
      throw new Error(`jupyter server cannot run here: ${unavailableReason}`);
    server = await startJupyterServer();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(executors.map((executor) => executor.stop().catch(() => undefined)));
    await server?.close();
  }, 60_000);

  it("fails to start with a clear ExecutorUnavailableError when the token is wrong", async () => {
    const executor = track(
      createRemoteExecutor({ url: server.url, token: "not-the-token", sessionId: "bad-token" }),
    );
    const error = await caught(executor.start());
    expect(error.code).toBe("executor_unavailable");
    expect(error.name).toBe("ExecutorUnavailableError");
    expect(error.message).toMatch(/HTTP 403/);
    expect(error.message).toMatch(/execution_service\.remote\.token/);
    expect(error.message).toMatch(/JUPYTER_TOKEN/);
  });

  it("says no token is configured when the server wants one", async () => {
    const executor = track(createRemoteExecutor({ url: server.url, sessionId: "no-token" }));
    const error = await caught(executor.start());
    expect(error.code).toBe("executor_unavailable");
    expect(error.message).toMatch(/No token is configured/);
  });

  it("fails with a clear ExecutorUnavailableError when no server is running", async () => {
    const url = `http://127.0.0.1:${await unusedPort()}/`;
    const executor = track(createRemoteExecutor({ url, token: "x", sessionId: "nobody-home" }));
    const error = await caught(executor.execute("1 + 1"));
    expect(error.code).toBe("executor_unavailable");
    expect(error.message).toContain(url);
    expect(error.message).toMatch(/connection refused/);
  });

  it("names the kernel_name setting when the server has no such kernel spec", async () => {
    const executor = track(
      createRemoteExecutor({
        url: server.url,
        token: server.token,
        sessionId: "bad-spec",
        kernelName: "no-such-spec",
      }),
    );
    const error = await caught(executor.start());
    expect(error.code).toBe("executor_unavailable");
    expect(error.message).toMatch(/"no-such-spec" kernel/);
    expect(error.message).toMatch(/execution_service\.remote\.kernel_name/);
  });

  it("runs the kernel in a per-session folder under the server root and deletes the kernel on stop", async () => {
    const executor = createRemoteExecutor({
      url: server.url,
      token: server.token,
      sessionId: "session-folder",
    });
    await executor.start();
    expect(executor.info.kind).toBe("remote");
    expect(executor.info.details.workingDirectory).toBe("taskweaver/session-folder");
    expect(executor.workingDirectory).toBeUndefined();
    const before = await serverKernelIds();
    expect(before.length).toBeGreaterThan(0);
    const cwd = await executor.execute("import os\nos.getcwd()");
    expect(cwd.output).toBe(`'${join(server.rootDir, "taskweaver", "session-folder")}'`);
    await executor.stop();
    const after = await serverKernelIds();
    expect(after.length).toBe(before.length - 1);
  });

  it("moves files both ways through the Contents API, byte for byte, as real files on the server", async () => {
    const executor = track(
      createRemoteExecutor({ url: server.url, token: server.token, sessionId: "contents" }),
    );
    const binary = new Uint8Array(randomBytes(2 * 1024 * 1024 + 17));
    binary.set(Array.from({ length: 256 }, (_, index) => index));
    const info = await executor.uploadFile("data/blob.bin", binary);
    expect(info).toMatchObject({ name: "data/blob.bin", size: binary.length });
    const onDisk = readFileSync(join(server.rootDir, "taskweaver", "contents", "data", "blob.bin"));
    expect(Buffer.compare(onDisk, Buffer.from(binary))).toBe(0);

    // A file that appears on the server (written by someone else) is downloadable and listed.
    writeFileSync(
      join(server.rootDir, "taskweaver", "contents", "from-server.txt"),
      "written on the server\n",
    );
    expect(Buffer.from(await executor.downloadFile("from-server.txt")).toString("utf8")).toBe(
      "written on the server\n",
    );
    expect(
      Buffer.compare(Buffer.from(await executor.downloadFile("data/blob.bin")), Buffer.from(binary)),
    ).toBe(0);
    const listed = await executor.listFiles();
    expect(listed.map((file) => file.name)).toEqual(["data/blob.bin", "from-server.txt"]);
    expect(listed[0]!.size).toBe(binary.length);
    expect(Number.isNaN(Date.parse(listed[0]!.modifiedAt))).toBe(false);

    const sum = await executor.execute(
      "import hashlib\nhashlib.sha256(open('data/blob.bin', 'rb').read()).hexdigest()",
    );
    expect(sum.output).toBe(
      `'${(await import("node:crypto")).createHash("sha256").update(binary).digest("hex")}'`,
    );

    expect((await caught(executor.downloadFile("../../etc/passwd"))).code).toBe("path_outside_workdir");
    expect((await caught(executor.uploadFile("../sibling/x.txt", new Uint8Array([1])))).code).toBe(
      "path_outside_workdir",
    );
    expect((await caught(executor.downloadFile("data"))).code).toBe("file_not_found");
    expect((await caught(executor.downloadFile("nothing-here.txt"))).code).toBe("file_not_found");
  });

  it("moves files through the kernel when the server has no Contents API (Kernel Gateway), in chunks", async () => {
    const executor = track(
      createRemoteExecutor({
        url: server.url,
        token: server.token,
        sessionId: "through-kernel",
        files: "kernel",
      }),
    );
    const binary = new Uint8Array(randomBytes(1_300_000));
    const info = await executor.uploadFile("big/chunked.bin", binary);
    expect(info).toMatchObject({ name: "big/chunked.bin", size: binary.length });
    const round = await executor.downloadFile("big/chunked.bin");
    expect(Buffer.compare(Buffer.from(round), Buffer.from(binary))).toBe(0);
    await executor.execute("open('made.txt', 'w').write('kernel side')");
    expect((await executor.listFiles()).map((file) => file.name)).toEqual(["big/chunked.bin", "made.txt"]);
    expect(Buffer.from(await executor.downloadFile("made.txt")).toString("utf8")).toBe("kernel side");
    // Without `path` support the kernel creates the folder under its own start directory.
    const cwd = await executor.execute(
      "import os\nos.getcwd().replace(os.sep, '/').endswith('taskweaver/through-kernel')",
    );
    expect(cwd.output).toBe("True");
    await executor.execute("import os\nos.symlink('/etc', 'escape')");
    expect((await caught(executor.downloadFile("escape/hostname"))).code).toBe("path_outside_workdir");
    expect((await caught(executor.downloadFile("missing.bin"))).code).toBe("file_not_found");
  });

  it("survives a dropped connection mid-execution: it reconnects and the server replays the missed output", async () => {
    const proxy = await startCuttableProxy(server.port);
    try {
      const executor = track(
        createRemoteExecutor({ url: proxy.url, token: server.token, sessionId: "blip" }),
      );
      await executor.execute("survivor = 'kept'");
      let cut = false;
      const result = await executor.execute(
        "import time\nfor step in range(6):\n    print('step', step, flush=True)\n    time.sleep(0.4)\n'done'",
        {
          onOutput: (output) => {
            if (!cut && output.text.includes("step 1")) {
              cut = true;
              proxy.cutAll();
            }
          },
        },
      );
      expect(cut).toBe(true);
      expect(result.outcome, JSON.stringify(result.notes)).toBe("ok");
      expect(result.output).toBe("'done'");
      expect(result.stdout.join("")).toBe([0, 1, 2, 3, 4, 5].map((step) => `step ${step}\n`).join(""));
      expect(result.stateLost).toBe(false);
      expect((await executor.execute("survivor")).output).toBe("'kept'");
    } finally {
      await proxy.close();
    }
  });

  it.each([
    ["exits without stopping", "exit"],
    ["is terminated with SIGTERM", "SIGTERM"],
  ])("deletes its kernels on the server when the host process %s", async (_label, how) => {
    const repository = resolve(fileURLToPath(import.meta.url), "../../..");
    const scriptDirectory = mkdtempSync(join(tmpdir(), "tw-remote-orphan-"));
    const script = join(scriptDirectory, "orphan.mts");
    writeFileSync(
      script,
      [
        `import { createRemoteExecutor } from ${JSON.stringify(join(repository, "packages/executor/src/remote/remote-executor.ts"))};`,
        `const executor = createRemoteExecutor({ url: process.env.REMOTE_URL, token: process.env.REMOTE_TOKEN, sessionId: "orphan" });`,
        `await executor.start();`,
        `console.log("started");`,
        `if (process.argv[2] === "exit") process.exit(0);`,
        `setInterval(() => undefined, 1000);`,
      ].join("\n"),
    );
    try {
      const before = await serverKernelIds();
      // Node itself (with tsx's loader), not the tsx wrapper, so the signal reaches our hooks.
      const child = spawn(process.execPath, ["--import", "tsx", script, how], {
        cwd: repository,
        env: { ...process.env, REMOTE_URL: server.url, REMOTE_TOKEN: server.token },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString("utf8");
        if (how === "SIGTERM" && output.includes("started")) child.kill("SIGTERM");
      });
      child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
      const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
        child.on("exit", (code, signal) => done({ code, signal })),
      );
      expect(output).toContain("started");
      if (how === "SIGTERM") expect(exit.signal).toBe("SIGTERM");
      else expect(exit.code).toBe(0);
      expect((await serverKernelIds()).sort()).toEqual(before.sort());
    } finally {
      rmSync(scriptDirectory, { recursive: true, force: true });
    }
  });

  it("interrupt() stops running code without losing the kernel", async () => {
    const executor = track(
      createRemoteExecutor({ url: server.url, token: server.token, sessionId: "interrupt" }),
    );
    await executor.execute("kept = 5");
    const running = executor.execute("import time\nprint('start', flush=True)\ntime.sleep(30)", {
      onOutput: (output) => {
        if (output.text.includes("start")) void executor.interrupt();
      },
    });
    const result = await running;
    // The same as a local kernel: an interrupt the caller asked for is not a code error.
    expect(result.outcome).toBe("interrupted");
    expect(result.isSuccess).toBe(false);
    expect(result.stdout.join("")).toBe("start\n");
    expect(result.durationMs).toBeLessThan(20_000);
    expect((await executor.execute("kept * 2")).output).toBe("10");
  });

  it("is what createExecutorFactory builds for kernel_mode remote, with the token from JUPYTER_TOKEN", async () => {
    const appDir = mkdtempSync(join(tmpdir(), "tw-remote-app-"));
    try {
      mkdirSync(join(appDir, "workspace"), { recursive: true });
      writeFileSync(
        join(appDir, "taskweaver_config.json"),
        JSON.stringify({
          "execution_service.kernel_mode": "remote",
          "execution_service.remote.url": server.url,
        }),
      );
      const config = loadConfig({ appDir, env: {} });
      const factory = createExecutorFactory(config, {
        runtimes: {
          remote: (appConfig) =>
            createRemoteExecutorFactory(appConfig, { env: { JUPYTER_TOKEN: server.token } }),
        },
      });
      const executor = track(
        await factory({ sessionId: "from-factory", workingDirectory: join(appDir, "cwd") }),
      );
      const result = await executor.execute("import os\nos.path.basename(os.getcwd())");
      expect(result.output).toBe("'from-factory'");
      expect(executor.info.details.url).toBe(server.url);
      expect(JSON.stringify(executor.info)).not.toContain(server.token);
    } finally {
      rmSync(appDir, { recursive: true, force: true });
    }
  });

  it("refuses kernel_mode remote without a URL when the app starts", () => {
    const appDir = mkdtempSync(join(tmpdir(), "tw-remote-app-"));
    try {
      const config = loadConfig({
        appDir,
        env: {},
        overrides: { "execution_service.kernel_mode": "remote" },
      });
      expect(() => createRemoteExecutorFactory(config, { env: {} })).toThrow(
        /execution_service\.remote\.url/,
      );
    } finally {
      rmSync(appDir, { recursive: true, force: true });
    }
  });
});
