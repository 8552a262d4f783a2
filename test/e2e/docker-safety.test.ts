// Each safety default of the Docker runtime, checked from inside a real container.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ExecutorUnavailableError, loadConfig, type CodeExecutor } from "@taskweaver/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createDockerExecutor,
  createDockerExecutorFactory,
  removeStaleContainers,
  type KernelContainer,
} from "../../packages/executor/src/docker/index.js";
import { dockerTestGate, requireEngine } from "./docker-support.js";

const engine = await dockerTestGate("docker-safety.test.ts");
const MANAGED = "io.taskweaver.managed";

function pythonValue(text: string): unknown {
  // The displayed value of a small literal: repr of a str/int/bool/tuple, read as JSON-ish.
  return JSON.parse(text.replace(/'/g, '"').replace(/\bTrue\b/g, "true").replace(/\bFalse\b/g, "false").replace(/\(/g, "[").replace(/\)/g, "]"));
}

describe("when Docker is not reachable", () => {
  it("fails with one clear ExecutorUnavailableError saying how to switch to the local runtime", async () => {
    const workingDirectory = mkdtempSync(join(tmpdir(), "tw-docker-missing-"));
    const executor = createDockerExecutor({ workingDirectory, dockerHost: "unix:///tmp/taskweaver-no-such-dir/docker.sock" });
    const error = await executor.start().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ExecutorUnavailableError);
    const message = (error as Error).message;
    expect(message).toContain("Docker is not running");
    expect(message).toContain("unix:///tmp/taskweaver-no-such-dir/docker.sock");
    expect(message).toContain('execution_service.kernel_mode to "local"');
    expect(message).toContain("EXECUTION_SERVICE_KERNEL_MODE=local");
    rmSync(workingDirectory, { recursive: true, force: true });
  });

  it("reads DOCKER_HOST through the app configuration's factory", async () => {
    const appDir = mkdtempSync(join(tmpdir(), "tw-docker-factory-"));
    const config = loadConfig({
      appDir,
      env: {},
      overrides: { "execution_service.kernel_mode": "container", "execution_service.docker.host": "unix:///nonexistent.sock" },
    });
    const executor = await createDockerExecutorFactory(config)({ sessionId: "s", workingDirectory: join(appDir, "cwd") });
    await expect(executor.start()).rejects.toThrow(/Docker is not running.*nonexistent\.sock/s);
    rmSync(appDir, { recursive: true, force: true });
  });
});

describe.skipIf(engine.skip)("the Docker runtime's safety defaults", () => {
  let workingDirectory: string;
  let executor: CodeExecutor;
  const containers: KernelContainer[] = [];
  let server: Server | undefined;

  beforeAll(async () => {
    const client = requireEngine(engine);
    workingDirectory = mkdtempSync(join(tmpdir(), "tw-docker-safety-"));
    executor = createDockerExecutor({
      workingDirectory,
      client,
      security: { image: engine.image },
      onContainer: (container) => containers.push(container),
    });
    await executor.start();
  }, 120_000);

  afterAll(async () => {
    await executor?.stop();
    server?.close();
    if (workingDirectory) rmSync(workingDirectory, { recursive: true, force: true });
  });

  async function value(code: string): Promise<unknown> {
    const result = await executor.execute(code);
    expect(result.error, result.error?.traceback).toBeUndefined();
    return pythonValue(result.output);
  }

  it("has no network: only the loopback interface, and the host's services cannot be reached", async () => {
    server = createServer((socket) => socket.end("reachable"));
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    expect(await value("import socket\n[name for _, name in socket.if_nameindex()]")).toEqual(["lo"]);
    const result = await executor.execute(
      `import socket\ntry:\n    socket.create_connection(("127.0.0.1", ${port}), timeout=2)\n    outcome = "connected"\n` +
        `except OSError as error:\n    outcome = type(error).__name__\noutcome`,
    );
    expect(result.output).toBe("'ConnectionRefusedError'");
    const inspection = await requireEngine(engine).inspectContainer(containers[0]!.id);
    expect(inspection?.HostConfig?.NetworkMode).toBe("none");
  });

  it("runs as the unprivileged user 10001, not root", async () => {
    expect(await value("import os\n(os.getuid(), os.getgid(), os.geteuid())")).toEqual([10001, 10001, 10001]);
  });

  it("keeps the root filesystem read-only while the working directory and /tmp are writable", async () => {
    // /home/taskweaver belongs to the kernel's user, so only the read-only mount can refuse it.
    const result = await executor.execute(
      "import errno\nresults = []\nfor path in ['/usr/x', '/home/taskweaver/x', '/etc/x']:\n" +
        "    try:\n        open(path, 'w').write('x')\n        results.append('written')\n" +
        "    except OSError as error:\n        results.append(errno.errorcode[error.errno])\nresults",
    );
    expect(pythonValue(result.output)).toEqual(["EROFS", "EROFS", "EROFS"]);
    expect(
      await value("open('/tmp/scratch.txt', 'w').write('tmp ok')\nopen('written-in-cwd.txt', 'w').write('cwd ok')"),
    ).toBe(6);
    expect((await executor.listFiles()).map((file) => file.name)).toContain("written-in-cwd.txt");
  });

  it("drops every capability and forbids gaining privileges", async () => {
    const status = await value(
      "fields = dict(line.split(':\\t', 1) for line in open('/proc/self/status').read().splitlines() if ':\\t' in line)\n" +
        "(fields['CapEff'].strip(), fields['CapPrm'].strip(), fields['CapBnd'].strip(), fields['NoNewPrivs'].strip())",
    );
    expect(status).toEqual(["0000000000000000", "0000000000000000", "0000000000000000", "1"]);
    const chown = await executor.execute("import os\nos.chown('written-in-cwd.txt', 0, 0)");
    expect(chown.error?.name).toBe("PermissionError");
  });

  it("puts the kernel in a cgroup with the CPU, memory and process limits", async () => {
    // cgroup v2 files first, then v1 (as on this project's machines).
    const limits = await value(
      "import os\ndef first(*paths):\n    for path in paths:\n        if os.path.exists(path):\n            return open(path).read().strip()\n    return 'missing'\n" +
        "(first('/sys/fs/cgroup/cpu.max', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us'), " +
        "first('/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes'), " +
        "first('/sys/fs/cgroup/pids.max', '/sys/fs/cgroup/pids/pids.max'))",
    );
    const [cpu, memory, pids] = limits as [string, string, string];
    expect(["100000 100000", "100000"]).toContain(cpu);
    expect(memory).toBe(String(1024 ** 3));
    expect(pids).toBe("256");
  });

  it("limits CPU, processes and memory in the container's configuration", async () => {
    const inspection = await requireEngine(engine).inspectContainer(containers[0]!.id);
    expect(inspection?.HostConfig).toMatchObject({
      NanoCpus: 1_000_000_000,
      PidsLimit: 256,
      Memory: 1024 ** 3,
      MemorySwap: 1024 ** 3,
      ReadonlyRootfs: true,
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges"],
      PortBindings: {},
    });
  });

  it("refuses to start more threads than the process limit allows", async () => {
    const own = mkdtempSync(join(tmpdir(), "tw-docker-pids-"));
    const limited = createDockerExecutor({
      workingDirectory: own,
      client: requireEngine(engine),
      security: { image: engine.image, pidsLimit: 64 },
    });
    try {
      const result = await limited.execute(
        "import threading, time\nstop = threading.Event()\nstarted = 0\n" +
          "try:\n    for _ in range(200):\n        threading.Thread(target=stop.wait, daemon=True).start()\n        started += 1\n" +
          "except RuntimeError as error:\n    failure = str(error)\nstop.set()\n(started < 64, failure)",
      );
      expect(result.error, result.error?.traceback).toBeUndefined();
      expect(result.output).toMatch(/^\(True, "?'?can't start new thread/);
    } finally {
      await limited.stop();
      rmSync(own, { recursive: true, force: true });
    }
  }, 90_000);

  it("kills a kernel that goes over the memory limit and reports the kernel as died of it", async () => {
    const own = mkdtempSync(join(tmpdir(), "tw-docker-memory-"));
    const started: KernelContainer[] = [];
    const limited = createDockerExecutor({
      workingDirectory: own,
      client: requireEngine(engine),
      security: { image: engine.image, memoryBytes: 128 * 1024 ** 2 },
      onContainer: (container) => started.push(container),
    });
    try {
      await limited.execute("kept = 1");
      // Bytes filled with a value, so every page is really touched.
      const result = await limited.execute("blocks = [b'x' * (64 * 1024 * 1024) for _ in range(8)]\nlen(blocks)");
      expect(result.outcome).toBe("kernel-died");
      expect(result.stateLost).toBe(true);
      expect(result.notes.join(" ")).toMatch(/ran out of memory \(limit 128 MiB/);
      const next = await limited.execute("'kept' in dir()");
      expect(next.outcome).toBe("ok");
      expect(next.output).toBe("False");
      // The dead kernel's container does not linger next to the new one.
      expect(started).toHaveLength(2);
      expect(started[0]!.exit?.oomKilled).toBe(true);
      await expect.poll(() => requireEngine(engine).inspectContainer(started[0]!.id), { timeout: 15_000 }).toBeUndefined();
    } finally {
      await limited.stop();
      rmSync(own, { recursive: true, force: true });
    }
  }, 120_000);
});

describe.skipIf(engine.skip)("cleanup of kernel containers", () => {
  function deadPid(): number {
    // A child that has exited and been reaped: its pid names no process (until reused, which
    // takes a full cycle of the pid space).
    const child = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], { encoding: "utf8" });
    return Number(child.stdout.trim());
  }

  async function createLabelledContainer(hostPid: number, hostName = hostname()): Promise<string> {
    return requireEngine(engine).createContainer({
      Image: engine.image,
      Cmd: ["sleep", "300"],
      Labels: { [MANAGED]: "true", "io.taskweaver.host-pid": String(hostPid), "io.taskweaver.host-name": hostName },
      HostConfig: { NetworkMode: "none" },
    });
  }

  it("removes stale containers of dead host processes and leaves the others alone", async () => {
    const client = requireEngine(engine);
    const stale = await createLabelledContainer(deadPid());
    const live = await createLabelledContainer(process.pid);
    const otherMachine = await createLabelledContainer(deadPid(), "another-machine");
    try {
      const removed = await removeStaleContainers(client);
      expect(removed).toContain(stale);
      expect(removed).not.toContain(live);
      expect(removed).not.toContain(otherMachine);
      expect(await client.inspectContainer(stale)).toBeUndefined();
      expect(await client.inspectContainer(live)).toBeDefined();
    } finally {
      await client.removeContainer(live);
      await client.removeContainer(otherMachine);
      await client.removeContainer(stale);
    }
  });

  it("removes the container when the host process exits without stopping the executor", async () => {
    const client = requireEngine(engine);
    const own = mkdtempSync(join(tmpdir(), "tw-docker-exit-"));
    const moduleUrl = pathToFileURL(join(import.meta.dirname, "../../packages/executor/src/docker/index.ts")).href;
    const script = join(own, "host.mts");
    writeFileSync(
      script,
      `import { createDockerExecutor } from ${JSON.stringify(moduleUrl)};\n` +
        `const executor = createDockerExecutor({ workingDirectory: ${JSON.stringify(join(own, "cwd"))}, ` +
        `onContainer: (container) => console.log("CONTAINER " + container.id) });\n` +
        `await executor.start();\n` +
        `process.argv[2] === "signal" ? process.kill(process.pid, "SIGTERM") : process.exit(0);\n` +
        `setTimeout(() => {}, 60_000);\n`,
    );
    for (const mode of ["exit", "signal"]) {
      const child = spawn(process.execPath, ["--import", "tsx", script, mode], {
        cwd: join(import.meta.dirname, ".."),
        env: { ...process.env, DOCKER_HOST: client.endpoint.description },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
      const exit = await new Promise<{ code: number | null; signal: string | null }>((resolve) =>
        child.on("exit", (code, signal) => resolve({ code, signal })),
      );
      const id = /CONTAINER (\w+)/.exec(output)?.[1];
      expect(id, output).toBeDefined();
      if (mode === "signal") expect(exit.signal).toBe("SIGTERM");
      else expect(exit.code).toBe(0);
      expect(await client.inspectContainer(id!)).toBeUndefined();
    }
    rmSync(own, { recursive: true, force: true });
  }, 120_000);
});

/** True when an ordinary user can read the repository (a clone under /root would not be). */
function repositoryReadableByOthers(): boolean {
  let path = join(import.meta.dirname, "..", "..");
  for (;;) {
    if ((statSync(path).mode & 0o005) !== 0o005) return false;
    const parent = join(path, "..");
    if (parent === path) return true;
    path = parent;
  }
}

const canSwitchUser = process.getuid?.() === 0 && repositoryReadableByOthers();
if (!engine.skip && !canSwitchUser) {
  console.warn("\n*** SKIPPING the non-root host test: it needs root and a repository readable by other users ***\n");
}

describe.skipIf(engine.skip || !canSwitchUser)("a host process that is not root", () => {
  it("runs the kernel as the host's own user and keeps the working directory private", async () => {
    const client = requireEngine(engine);
    if (client.endpoint.kind !== "unix") throw new Error("this test needs the engine on a unix socket");
    // The ordinary user may use the engine through the socket's group, as members of "docker" do.
    const socketGroup = statSync(client.endpoint.socketPath).gid;
    const own = mkdtempSync(join(tmpdir(), "tw-docker-nonroot-"));
    chmodSync(own, 0o777);
    const moduleUrl = pathToFileURL(join(import.meta.dirname, "../../packages/executor/src/docker/index.ts")).href;
    const script = join(own, "host.mts");
    writeFileSync(
      script,
      `import { mkdirSync } from "node:fs";\n` +
        `import { createDockerExecutor } from ${JSON.stringify(moduleUrl)};\n` +
        `const workingDirectory = ${JSON.stringify(join(own, "cwd"))};\n` +
        `mkdirSync(workingDirectory, { mode: 0o700 });\n` +
        `const executor = createDockerExecutor({ workingDirectory, security: { image: ${JSON.stringify(engine.image)} } });\n` +
        `await executor.uploadFile("from-host.txt", new TextEncoder().encode("host"));\n` +
        `const result = await executor.execute("import os\\nopen('from-kernel.txt', 'w').write(open('from-host.txt').read())\\nos.getuid()");\n` +
        `console.log("RESULT " + JSON.stringify({ outcome: result.outcome, output: result.output, error: result.error }));\n` +
        `await executor.stop();\n`,
    );
    chmodSync(script, 0o644);
    const child = spawnSync(
      "setpriv",
      ["--reuid=65534", "--regid=65534", `--groups=${socketGroup}`, process.execPath, "--import", "tsx", script],
      {
        cwd: join(import.meta.dirname, ".."),
        env: { ...process.env, HOME: own, DOCKER_HOST: client.endpoint.description },
        encoding: "utf8",
        timeout: 100_000,
      },
    );
    const line = /RESULT (.*)/.exec(child.stdout)?.[1];
    expect(line, child.stdout + child.stderr).toBeDefined();
    expect(JSON.parse(line!)).toEqual({ outcome: "ok", output: "65534" });
    const cwd = join(own, "cwd");
    expect(statSync(cwd).mode & 0o777).toBe(0o700);
    expect(readdirSync(cwd).sort()).toEqual(["from-host.txt", "from-kernel.txt"]);
    expect(statSync(join(cwd, "from-kernel.txt")).uid).toBe(65534);
    rmSync(own, { recursive: true, force: true });
  }, 120_000);
});
