import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ExecutorUnavailableError, loadConfig, type CodeExecutor } from "@taskweaver/core";
import {
  createLocalExecutor,
  createLocalExecutorFactory,
  type LocalExecutorOptions,
} from "./local-executor.js";
import { findPythonWithIpykernelSync } from "./python-discovery.js";
import type { KernelLauncher } from "../kernel-executor.js";
import { createForkKernelLauncher, type ForkKernelLauncher } from "./fork-kernel-launcher.js";
import { createLocalKernelLauncher } from "./local-kernel.js";
import { BUBBLEWRAP_HINT, createLimitScript, resolveSandbox, type LocalSandboxOptions } from "./sandbox.js";

let python: string | undefined;
let unavailable: string | undefined;
try {
  python = findPythonWithIpykernelSync({ configured: process.env.TASKWEAVER_TEST_PYTHON });
  const probe = spawnSync("bwrap", ["--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "true"], {
    encoding: "utf8",
  });
  if (probe.status !== 0)
    unavailable = `bwrap does not work (${probe.error?.message ?? probe.stderr.trim()}). ${BUBBLEWRAP_HINT}`;
} catch (error) {
  unavailable = (error as Error).message;
}
// Under CI=true a missing bwrap fails these tests instead of skipping them.
const runSandboxed = unavailable === undefined || process.env.CI === "true";

/** A workspace like the app's: `sessions/<id>/cwd` for this session and another one. */
let workspace: string;
let ownDirectory: string;
let otherDirectory: string;

beforeAll(async () => {
  workspace = await mkdtemp(join(tmpdir(), "tw-sandbox-ws-"));
  ownDirectory = join(workspace, "sessions", "own", "cwd");
  otherDirectory = join(workspace, "sessions", "other", "cwd");
  await mkdir(ownDirectory, { recursive: true });
  await mkdir(otherDirectory, { recursive: true });
  await writeFile(join(otherDirectory, "secret.txt"), "the other session's data");
});

afterAll(async () => {
  await rm(workspace, { recursive: true, force: true });
});

/** How the sandboxed kernels of a test start: each in its own bubblewrap, or forked from a sandboxed template. */
type Start = "spawned" | "forked";

// A kernel that was not forked fails the forked tests: the fallback throws.
const notForked: KernelLauncher = {
  launch: () => Promise.reject(new ExecutorUnavailableError("a sandboxed kernel was spawned instead of forked")),
};
const forkWarnings: string[] = [];
/** One sandboxed template per set of sandbox options, as a factory has one for its app. */
const forkLaunchers = new Map<string, ForkKernelLauncher>();
function sandboxedForkLauncher(sandbox: LocalSandboxOptions): ForkKernelLauncher {
  const key = JSON.stringify(sandbox);
  let launcher = forkLaunchers.get(key);
  if (!launcher) {
    launcher = createForkKernelLauncher({
      resolvePython: () => Promise.resolve(python ?? "python3"),
      fallback: notForked,
      onWarning: (message) => forkWarnings.push(message),
      sandbox: { ...sandbox, workingRoots: [workspace] },
    });
    forkLaunchers.set(key, launcher);
  }
  return launcher;
}
afterAll(async () => {
  await Promise.all([...forkLaunchers.values()].map((launcher) => launcher.dispose()));
  expect(forkWarnings).toEqual([]);
});

function createSandboxedExecutor(
  sandbox: Partial<NonNullable<LocalExecutorOptions["sandbox"]>>,
  start: Start,
  workingDirectory = ownDirectory,
): CodeExecutor {
  if (unavailable !== undefined) throw new Error(unavailable);
  if (start === "spawned")
    return createLocalExecutor({
      workingDirectory,
      python,
      sandbox: { mode: "bwrap", hiddenDirectories: [workspace], ...sandbox },
    });
  const { mode: _mode, ...options } = { mode: "bwrap", ...sandbox };
  return createLocalExecutor({
    workingDirectory,
    launcher: sandboxedForkLauncher({ hiddenDirectories: [workspace], ...options }),
    sandbox: { mode: "bwrap" },
  });
}

async function withSandboxed(
  sandbox: Partial<NonNullable<LocalExecutorOptions["sandbox"]>>,
  body: (executor: CodeExecutor) => Promise<void>,
  start: Start = "spawned",
): Promise<void> {
  const executor = createSandboxedExecutor(sandbox, start);
  try {
    await executor.start();
    expect(executor.info.details.sandbox).toBe("bwrap");
    expect(executor.info.details.start).toBe(start === "forked" ? "fork" : undefined);
    await body(executor);
  } finally {
    await executor.stop();
  }
}

async function output(executor: CodeExecutor, code: string): Promise<string> {
  const result = await executor.execute(code);
  expect(result.outcome, result.error?.value).toBe("ok");
  return result.stdout.join("").trim();
}

describe.skipIf(!runSandboxed).each(["spawned", "forked"] as const)("sandboxed local kernels (bwrap, %s)", (start) => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer((socket) => socket.end("hello from the host\n"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const withSandboxedHere = (
    sandbox: Partial<NonNullable<LocalExecutorOptions["sandbox"]>>,
    body: (executor: CodeExecutor) => Promise<void>,
  ) => withSandboxed(sandbox, body, start);

  const connectCode = () =>
    [
      "import socket",
      "try:",
      `    print(socket.create_connection(("127.0.0.1", ${port}), timeout=3).recv(100).decode().strip())`,
      "except OSError as error:",
      "    print('blocked', type(error).__name__)",
    ].join("\n");

  test(
    "blocks egress, even to a server on the host's loopback; network: true lets it through",
    { timeout: 60_000 },
    async () => {
      await withSandboxedHere({}, async (executor) => {
        expect(await output(executor, connectCode())).toMatch(/^blocked/);
      });
      await withSandboxedHere({ network: true }, async (executor) => {
        expect(await output(executor, connectCode())).toBe("hello from the host");
      });
    },
  );

  test(
    "hides the home directory and other sessions' folders, keeps its own",
    { timeout: 60_000 },
    async () => {
      const marker = join(homedir(), `.tw-sandbox-marker-${randomBytes(4).toString("hex")}`);
      await writeFile(marker, "host home");
      try {
        await withSandboxedHere({}, async (executor) => {
          const seen = JSON.parse(
            await output(
              executor,
              [
                "import json, os",
                `print(json.dumps([os.path.exists(${JSON.stringify(marker)}), os.path.exists(${JSON.stringify(join(otherDirectory, "secret.txt"))}), os.listdir(${JSON.stringify(join(workspace, "sessions"))}), os.getcwd()]))`,
              ].join("\n"),
            ),
          ) as [boolean, boolean, string[], string];
          expect(seen[0]).toBe(false);
          expect(seen[1]).toBe(false);
          expect(seen[2]).toEqual(["own"]);
          expect(seen[3]).toBe(ownDirectory);
        });
      } finally {
        await rm(marker, { force: true });
      }
    },
  );

  test(
    "keeps the root read-only and /tmp private; the working directory is writable",
    { timeout: 60_000 },
    async () => {
      const name = `tw-sandbox-${randomBytes(4).toString("hex")}`;
      await withSandboxedHere({}, async (executor) => {
        const seen = await output(
          executor,
          [
            "import errno",
            "for path in ['/etc/x', '/usr/x', '/x']:",
            "    try:",
            "        open(path, 'w').write('x')",
            "        print(path, 'written')",
            "    except OSError as error:",
            "        print(path, errno.errorcode[error.errno])",
            `open('/tmp/${name}', 'w').write('private')`,
            "open('result.txt', 'w').write('kept')",
          ].join("\n"),
        );
        expect(seen.split("\n")).toEqual(["/etc/x EROFS", "/usr/x EROFS", "/x EROFS"]);
      });
      expect(existsSync("/etc/x") || existsSync("/usr/x")).toBe(false);
      expect(existsSync(join("/tmp", name))).toBe(false);
      expect(await readFile(join(ownDirectory, "result.txt"), "utf8")).toBe("kept");
    },
  );

  test(
    "contains a fork bomb: RLIMIT_NPROC stops it, for root the process count of the sandbox, and no process outlives the kernel",
    { timeout: 120_000 },
    async () => {
      const isRoot = process.getuid?.() === 0;
      let kernelPid = 0;
      let children: number[] = [];
      await withSandboxedHere({ pidsLimit: 64 }, async (executor) => {
        kernelPid = Number(executor.info.details.pid);
        const code = [
          "import json, os, time",
          "forked, refused = 0, None",
          "for _ in range(300):",
          "    try:",
          "        pid = os.fork()",
          "    except OSError as error:",
          "        refused = type(error).__name__",
          "        break",
          "    if pid == 0:",
          "        time.sleep(120)",
          "        os._exit(0)",
          "    forked += 1",
          "    time.sleep(0.005)",
          "print(json.dumps([forked, refused]))",
        ].join("\n");
        if (isRoot) {
          // Root is exempt from RLIMIT_NPROC in the kernel: the host counts the sandbox's
          // processes and ends it past the limit, forked children with it.
          const bomb = executor.execute(code);
          await waitFor(() => hostChildren(kernelPid).length > 0, 10_000);
          children = hostChildren(kernelPid);
          const result = await bomb;
          expect(result.outcome).toBe("kernel-died");
          expect(result.notes.join("\n")).toContain("execution_service.local.pids_limit (64)");
        } else {
          const seen = JSON.parse(await output(executor, code)) as [number, string | null];
          expect(seen[0]).toBeLessThan(64);
          expect(seen[1]).toBe("BlockingIOError");
          children = hostChildren(kernelPid);
          expect(children.length).toBe(seen[0]);
        }
        // The session goes on.
        expect((await executor.execute("1 + 1")).output).toBe("2");
      });
      // The pid namespace ends with its kernel: every forked process is gone from the host.
      await waitFor(() => children.every((pid) => !existsSync(`/proc/${pid}`)), 10_000);
    },
  );

  test("contains a memory hog with RLIMIT_AS, and the session goes on", { timeout: 60_000 }, async () => {
    await withSandboxedHere({ memoryBytes: 2 * 1024 ** 3 }, async (executor) => {
      const hog = await executor.execute("hog = bytearray(3 * 1024 ** 3)");
      expect(hog.outcome).toBe("error");
      expect(hog.error?.name).toBe("MemoryError");
      expect(await output(executor, "kept = bytearray(64 * 1024 ** 2); print(len(kept))")).toBe(
        String(64 * 1024 ** 2),
      );
    });
  });

  test("reaps what the code leaves running in the background: no zombie stays", { timeout: 60_000 }, async () => {
    await withSandboxedHere({}, async (executor) => {
      const seen = JSON.parse(
        await output(
          executor,
          [
            "import json, os, time",
            "for _ in range(10):",
            "    os.system('sleep 0.1 &')",
            "time.sleep(1.5)",
            "states = [open('/proc/%s/stat' % entry).read().rsplit(') ', 1)[1][0] for entry in os.listdir('/proc') if entry.isdigit()]",
            "print(json.dumps([states.count('Z'), len(states)]))",
          ].join("\n"),
        ),
      ) as [number, number];
      // The init and the kernel.
      expect(seen).toEqual([0, 2]);
    });
  });

  test(
    "has no capability, and cannot unmount what hides the other sessions, even from a user namespace of its own",
    { timeout: 60_000 },
    async () => {
      await withSandboxedHere({}, async (executor) => {
        const sessions = JSON.stringify(join(workspace, "sessions"));
        const seen = JSON.parse(
          await output(
            executor,
            [
              "import ctypes, errno, json, os",
              "libc = ctypes.CDLL(None, use_errno=True)",
              "def attempt(call):",
              "    return 'done' if call() == 0 else errno.errorcode.get(ctypes.get_errno(), '?')",
              `direct = [attempt(lambda path=path: libc.umount2(path.encode(), 2)) for path in (${sessions}, '/tmp', '/proc')]`,
              "read, write = os.pipe()",
              "child = os.fork()",
              "if child == 0:",
              "    # CLONE_NEWUSER | CLONE_NEWNS: full capabilities, over a copy whose mounts are locked together.",
              "    steps = [attempt(lambda: libc.unshare(0x10000000 | 0x00020000))]",
              "    steps += [attempt(lambda path=path: libc.umount2(path.encode(), 2)) for path in ('/tmp', '/')]",
              `    steps.append(sorted(os.listdir(${sessions})))`,
              "    os.write(write, json.dumps(steps).encode())",
              "    os._exit(0)",
              "os.close(write)",
              "os.waitpid(child, 0)",
              "nested = json.loads(os.read(read, 4096))",
              "capabilities = [line.split()[1] for line in open('/proc/self/status') if line.startswith(('CapPrm', 'CapEff', 'CapBnd'))]",
              `print(json.dumps([direct, nested, capabilities, os.listdir(${sessions})]))`,
            ].join("\n"),
          ),
        ) as [string[], [string, string, string, string[]], string[], string[]];
        expect(seen[0]).toEqual(["EPERM", "EPERM", "EPERM"]);
        // A user namespace may be made (or refused), but what is locked stays mounted.
        expect(seen[1][1]).not.toBe("done");
        expect(seen[1][2]).not.toBe("done");
        expect(seen[1][3]).toEqual(["own"]);
        // Permitted and effective sets are empty (no_new_privs keeps them so across exec); a forked
        // kernel empties its bounding set too (bubblewrap, run by root, leaves it).
        expect(seen[2].slice(0, 2)).toEqual(["0000000000000000", "0000000000000000"]);
        if (start === "forked") expect(seen[2][2]).toBe("0000000000000000");
        expect(seen[3]).toEqual(["own"]);
      });
    },
  );
});

describe.skipIf(!runSandboxed)("forked sandboxed kernels and their siblings", () => {
  const limits = { memoryBytes: 3 * 1024 ** 3, pidsLimit: 128 };
  let first: CodeExecutor;
  let second: CodeExecutor;
  beforeAll(async () => {
    first = createSandboxedExecutor(limits, "forked", ownDirectory);
    second = createSandboxedExecutor(limits, "forked", otherDirectory);
    const launcher = sandboxedForkLauncher({ hiddenDirectories: [workspace], ...limits });
    const madeAhead = launcher.sandboxesMadeAhead;
    await Promise.all([first.start(), second.start()]);
    expect([first.info.details.start, second.info.details.start]).toEqual(["fork", "fork"]);
    // The first was isolated on request; the template then made the next sandbox ahead, and the
    // second kernel was forked into it: both ways are under test here.
    expect(launcher.sandboxesMadeAhead - madeAhead).toBe(1);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([first?.stop(), second?.stop()]);
  });

  test("see only their own processes in /proc, not a sibling kernel or the template", { timeout: 60_000 }, async () => {
    const sibling = Number(second.info.details.pid);
    const template = sandboxedForkLauncher({ hiddenDirectories: [workspace], ...limits }).template!.pid;
    const seen = JSON.parse(
      await output(
        first,
        [
          "import json, os",
          "def cwd_of(pid):",
          "    try:",
          "        return os.readlink('/proc/%d/cwd' % pid)",
          "    except OSError as error:",
          "        return type(error).__name__",
          `print(json.dumps([sorted(int(entry) for entry in os.listdir('/proc') if entry.isdigit()), os.getpid(), os.getppid(), cwd_of(os.getpid()), cwd_of(${sibling}), cwd_of(${template})]))`,
        ].join("\n"),
      ),
    ) as [number[], number, number, string, string, string];
    // The sandbox's init (1) and the kernel (2), as under bubblewrap.
    expect(seen).toEqual([[1, 2], 2, 1, ownDirectory, "FileNotFoundError", "FileNotFoundError"]);
  });

  test("cannot signal a sibling kernel, the template or the host", { timeout: 60_000 }, async () => {
    const targets = [Number(second.info.details.pid), sandboxedForkLauncher({ hiddenDirectories: [workspace], ...limits }).template!.pid, process.pid];
    const seen = JSON.parse(
      await output(
        first,
        [
          "import json, os, signal",
          "def send(pid):",
          "    try:",
          "        os.kill(pid, signal.SIGKILL)",
          "        return 'sent'",
          "    except OSError as error:",
          "        return type(error).__name__",
          `print(json.dumps([send(pid) for pid in ${JSON.stringify(targets)}]))`,
        ].join("\n"),
      ),
    ) as string[];
    expect(seen).toEqual(["ProcessLookupError", "ProcessLookupError", "ProcessLookupError"]);
    expect((await second.execute("1 + 1")).output).toBe("2");
  });

  test(
    "have their own modules, environment, working directory, limits, /tmp, /dev/shm, System V IPC and loopback",
    { timeout: 60_000 },
    async () => {
      const port = 40_000 + (process.pid % 20_000);
      await output(
        first,
        [
          "import ctypes, math, os, resource, socket",
          "math.pi = 3.0",
          "os.environ['TW_FIRST_ONLY'] = '1'",
          "resource.setrlimit(resource.RLIMIT_NOFILE, (100, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))",
          "open('/tmp/tw-first-only', 'w').write('first')",
          "open('/dev/shm/tw-first-only', 'w').write('first')",
          // IPC_CREAT | 0600: a System V segment under a key the second kernel looks for.
          "segment = ctypes.CDLL(None, use_errno=True).shmget(0x7477, 4096, 0o1000 | 0o600)",
          "assert segment >= 0, ctypes.get_errno()",
          "listener = socket.socket()",
          "listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
          `listener.bind(('127.0.0.1', ${port}))`,
          "listener.listen(1)",
          "print('ready')",
        ].join("\n"),
      );
      const seen = JSON.parse(
        await output(
          second,
          [
            "import ctypes, json, math, os, resource, socket",
            "try:",
            `    socket.create_connection(('127.0.0.1', ${port}), timeout=2).close()`,
            "    loopback = 'connected'",
            "except OSError as error:",
            "    loopback = type(error).__name__",
            "print(json.dumps([math.pi, os.environ.get('TW_FIRST_ONLY'), os.getcwd(), resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 100,",
            "    resource.getrlimit(resource.RLIMIT_AS)[0], resource.getrlimit(resource.RLIMIT_NPROC)[0],",
            "    os.path.exists('/tmp/tw-first-only'), os.path.exists('/dev/shm/tw-first-only'),",
            "    ctypes.CDLL(None, use_errno=True).shmget(0x7477, 0, 0), loopback]))",
          ].join("\n"),
        ),
      ) as unknown[];
      expect(seen).toEqual([
        Math.PI,
        null,
        otherDirectory,
        false,
        limits.memoryBytes,
        limits.pidsLimit,
        false,
        false,
        -1,
        "ConnectionRefusedError",
      ]);
      // The first kernel's own changes are there.
      const own = await output(
        first,
        "import json, math, os, resource\nprint(json.dumps([math.pi, os.environ['TW_FIRST_ONLY'], os.getcwd(), resource.getrlimit(resource.RLIMIT_NOFILE)[0], os.path.exists('/tmp/tw-first-only')]))\nlistener.close()",
      );
      expect(JSON.parse(own)).toEqual([3, "1", ownDirectory, 100, true]);
    },
  );
});

describe.skipIf(!runSandboxed)("a sandboxed template", () => {
  test(
    "that dies is restarted, in its sandbox, for the next kernel; after a second death kernels are spawned sandboxed, said once",
    { timeout: 180_000 },
    async () => {
      const messages: string[] = [];
      const fragile = createForkKernelLauncher({
        resolvePython: () => Promise.resolve(python ?? "python3"),
        onWarning: (message) => messages.push(message),
        sandbox: { hiddenDirectories: [workspace] },
      });
      const executor = createLocalExecutor({ workingDirectory: ownDirectory, launcher: fragile, sandbox: { mode: "bwrap" } });
      const sessions = JSON.stringify(join(workspace, "sessions"));
      try {
        expect((await executor.execute("x = 1\nx")).output).toBe("1");
        expect(executor.info.details.start).toBe("fork");
        const firstTemplate = fragile.template!;
        process.kill(firstTemplate.pid, "SIGKILL");
        await firstTemplate.exited;
        const noticed = await executor.execute("'x' in dir()");
        expect(noticed.stateLost).toBe(true);
        const after = noticed.outcome === "kernel-died" ? await executor.execute("'x' in dir()") : noticed;
        expect(after.output, JSON.stringify(after)).toBe("False");
        expect([executor.info.details.start, executor.info.details.sandbox]).toEqual(["fork", "bwrap"]);
        expect(fragile.template?.pid).not.toBe(firstTemplate.pid);
        expect((await executor.execute(`import os; os.listdir(${sessions})`)).output).toBe("['own']");
        expect(messages).toEqual([]);
        const secondTemplate = fragile.template!;
        process.kill(secondTemplate.pid, "SIGKILL");
        await secondTemplate.exited;
        const lost = await executor.execute(`import os; os.listdir(${sessions})`);
        const spawned = lost.outcome === "kernel-died" ? await executor.execute(`import os; os.listdir(${sessions})`) : lost;
        expect(spawned.output).toBe("['own']");
        expect([executor.info.details.start, executor.info.details.sandbox]).toEqual([undefined, "bwrap"]);
        expect(messages).toHaveLength(1);
        expect(messages[0]).toContain("spawned instead of forked");
      } finally {
        await executor.stop();
        await fragile.dispose();
      }
    },
  );

  test("that cannot start makes the launcher spawn sandboxed kernels, said once", { timeout: 120_000 }, async () => {
    const messages: string[] = [];
    const broken = createForkKernelLauncher({
      resolvePython: () => Promise.resolve(python ?? "python3"),
      onWarning: (message) => messages.push(message),
      sandbox: { bwrap: "/nonexistent/bwrap", hiddenDirectories: [workspace] },
      fallback: createLocalKernelLauncher({
        resolvePython: () => Promise.resolve(python ?? "python3"),
        sandbox: { mode: "bwrap", hiddenDirectories: [workspace] },
      }),
    });
    const first = createLocalExecutor({ workingDirectory: ownDirectory, launcher: broken, sandbox: { mode: "bwrap" } });
    const second = createLocalExecutor({ workingDirectory: otherDirectory, launcher: broken, sandbox: { mode: "bwrap" } });
    try {
      expect((await first.execute("1 + 1")).output).toBe("2");
      expect((await second.execute("2 + 2")).output).toBe("4");
      expect([first.info.details.start, first.info.details.sandbox]).toEqual([undefined, "bwrap"]);
      expect(broken.fellBack).toBe(true);
      expect(messages).toHaveLength(1);
      expect(messages[0]).toContain("/nonexistent/bwrap");
    } finally {
      await Promise.all([first.stop(), second.stop()]);
      await broken.dispose();
    }
  });
});

describe.skipIf(!runSandboxed).each(["spawned", "forked"] as const)("a sandboxed kernel (%s) and its host", (start) => {
  test(
    "a host killed with SIGKILL takes the sandboxed kernel and what it started with it",
    { timeout: 120_000 },
    async () => {
      const localExecutorModule = join(dirname(fileURLToPath(import.meta.url)), "local-executor.ts");
      // A duration no other process uses, so that pgrep finds only this one.
      const duration = `300.${randomBytes(3).readUIntBE(0, 3)}`;
      const launcherModule = join(dirname(fileURLToPath(import.meta.url)), "fork-kernel-launcher.ts");
      const script = [
        `import { createLocalExecutor } from ${JSON.stringify(localExecutorModule)};`,
        `import { createForkKernelLauncher } from ${JSON.stringify(launcherModule)};`,
        start === "spawned"
          ? `const executor = createLocalExecutor({ workingDirectory: ${JSON.stringify(ownDirectory)}, python: ${JSON.stringify(python)}, sandbox: { mode: "bwrap" } });`
          : `const executor = createLocalExecutor({ workingDirectory: ${JSON.stringify(ownDirectory)}, sandbox: { mode: "bwrap" }, launcher: createForkKernelLauncher({ resolvePython: () => Promise.resolve(${JSON.stringify(python)}), sandbox: { hiddenDirectories: [${JSON.stringify(workspace)}] } }) });`,
        "await executor.start();",
        `if (executor.info.details.start !== ${JSON.stringify(start === "forked" ? "fork" : undefined)}) throw new Error("started as " + executor.info.details.start);`,
        // A program started by the code, in its own session: the pid namespace still ends it.
        `await executor.execute("import subprocess\\nsubprocess.Popen(['setsid', 'sleep', '${duration}'])");`,
        "console.log('KERNEL_PID=' + executor.info.details.pid);",
        "setInterval(() => {}, 1000);",
      ].join("\n");
      const host = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      host.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
      host.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
      try {
        await waitFor(() => /KERNEL_PID=\d+/.test(output) || host.exitCode !== null, 90_000);
        const kernelPid = Number(/KERNEL_PID=(\d+)/.exec(output)?.[1]);
        expect(kernelPid, output).toBeGreaterThan(0);
        const sleeper = spawnSync("pgrep", ["-f", `^sleep ${duration.replace(".", "\\.")}$`], {
          encoding: "utf8",
        })
          .stdout.split("\n")
          .map(Number)
          .filter((pid) => pid > 0);
        expect(sleeper.length).toBeGreaterThan(0);
        host.kill("SIGKILL");
        await waitFor(
          () => !existsSync(`/proc/${kernelPid}`) && sleeper.every((pid) => !existsSync(`/proc/${pid}`)),
          10_000,
        );
      } finally {
        host.kill("SIGKILL");
      }
    },
  );
});

describe.skipIf(!runSandboxed)("the local factory's sandbox (execution_service.local.*)", () => {
  test(
    "auto (the default) sandboxes kernels, spawned while the template starts and forked after, and hides the app's workspace",
    { timeout: 60_000 },
    async () => {
      const config = await loadConfig({
        appDir: workspace,
        env: {},
        overrides: { "execution_service.python": python, "workspace.workspace_path": workspace },
      });
      expect(config.get("execution_service.local.sandbox")).toBe("auto");
      const factory = createLocalExecutorFactory(config);
      const executor = await factory({ sessionId: "own", workingDirectory: ownDirectory });
      try {
        await executor.start();
        expect(executor.info.details.sandbox).toBe("bwrap");
        expect(executor.info.details.start).toBeUndefined();
        expect(
          (await executor.execute(`import os; os.listdir(${JSON.stringify(join(workspace, "sessions"))})`))
            .output,
        ).toBe("['own']");
        // The template imports in the background, in its own bubblewrap; later sessions fork from it.
        let forked = false;
        for (let attempt = 0; attempt < 60 && !forked; attempt += 1) {
          const later = await factory({ sessionId: "other", workingDirectory: otherDirectory });
          try {
            expect(
              (await later.execute(`import os; os.listdir(${JSON.stringify(join(workspace, "sessions"))})`)).output,
            ).toBe("['other']");
            expect(later.info.details.sandbox).toBe("bwrap");
            forked = later.info.details.start === "fork";
          } finally {
            await later.stop();
          }
          if (!forked) await new Promise((resolve) => setTimeout(resolve, 1_000));
        }
        expect(forked).toBe(true);
      } finally {
        await executor.stop();
        await factory.dispose();
      }
    },
  );
});

describe("choosing the sandbox", () => {
  test("auto without a working bwrap runs unsandboxed and says so once, with how to install it", async () => {
    const messages: string[] = [];
    expect(
      await resolveSandbox("auto", {
        bwrap: "/nonexistent/bwrap",
        warn: (message) => messages.push(message),
      }),
    ).toBe(false);
    expect(await resolveSandbox("none", { warn: (message) => messages.push(message) })).toBe(false);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toContain("apt-get install bubblewrap");
  });

  test("bwrap without a working bwrap is an error naming the setting", async () => {
    const error: unknown = await resolveSandbox("bwrap", { bwrap: "/nonexistent/bwrap" }).catch(
      (caught: unknown) => caught,
    );
    expect(ExecutorUnavailableError.isInstance(error)).toBe(true);
    expect(String(error)).toContain("execution_service.local.sandbox");
  });
});

describe("sandbox limits", () => {
  test("become setrlimit calls of the kernel itself", () => {
    expect(createLimitScript({})).toEqual([]);
    expect(createLimitScript({ memoryBytes: 1024, pidsLimit: 8, cpuTimeSeconds: 1.5 })).toEqual([
      "import resource",
      "resource.setrlimit(resource.RLIMIT_AS, (1024, 1024))",
      "resource.setrlimit(resource.RLIMIT_NPROC, (8, 8))",
      "resource.setrlimit(resource.RLIMIT_CPU, (2, 2))",
    ]);
  });
});

/** Host pids whose parent is `pid`. */
function hostChildren(pid: number): number[] {
  const result = spawnSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" });
  return result.stdout
    .split("\n")
    .map((line) => Number(line.trim()))
    .filter((value) => value > 0);
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
