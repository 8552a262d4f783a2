import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { loadConfig } from "@taskweaver/core";
import { afterAll, describe, expect, test } from "vitest";
import { describeConformance, describeWorkdirLimitConformance } from "../conformance/describe-conformance.js";
import type { KernelLauncher } from "../kernel-executor.js";
import { createForkKernelLauncher, forkSupported } from "./fork-kernel-launcher.js";
import { createLocalExecutor, createLocalExecutorFactory } from "./local-executor.js";
import { createLocalKernelLauncher } from "./local-kernel.js";
import { trackedKernelProcessGroups } from "./process-registry.js";
import { findPythonWithIpykernelSync } from "./python-discovery.js";

let python: string | undefined;
let unavailableReason: string | undefined;
try {
  python = findPythonWithIpykernelSync({ configured: process.env.TASKWEAVER_TEST_PYTHON });
} catch (error) {
  unavailableReason = (error as Error).message;
}
if (!forkSupported()) unavailableReason ??= `forking kernels needs Linux, this is ${process.platform}`;
const skip = unavailableReason !== undefined && process.env.CI !== "true";

const warnings: string[] = [];
// One template for the whole suite, as a factory shares one for all its sessions.
const launcher = createForkKernelLauncher({
  resolvePython: () => Promise.resolve(python ?? "python3"),
  onWarning: (message) => warnings.push(message),
});
// Kernels that install the support code themselves, before their first request (the
// executor's bootstrap is skipped); the options must be those the executors would send.
const CONFORMANCE_MAX_OUTPUT_CHARS = 20_000;
const installing = createForkKernelLauncher({
  resolvePython: () => Promise.resolve(python ?? "python3"),
  onWarning: (message) => warnings.push(message),
  supportOptions: { parent_pid: process.pid, max_output_chars: CONFORMANCE_MAX_OUTPUT_CHARS },
});
afterAll(async () => {
  await Promise.all([launcher.dispose(), installing.dispose()]);
});

describeConformance(
  "local (forked kernels)",
  ({ workingDirectory, maxOutputChars, interruptGraceMs }) =>
    createLocalExecutor({ workingDirectory, python, maxOutputChars, interruptGraceMs, launcher }),
  { unavailableReason },
);

describeConformance(
  "local (forked kernels with the support code installed by the fork)",
  ({ workingDirectory, maxOutputChars, interruptGraceMs }) => {
    if (maxOutputChars !== CONFORMANCE_MAX_OUTPUT_CHARS) throw new Error(`the suite now asks for ${maxOutputChars} characters`);
    return createLocalExecutor({ workingDirectory, python, maxOutputChars, interruptGraceMs, launcher: installing });
  },
  { unavailableReason },
);

describeWorkdirLimitConformance(
  "local (forked kernels)",
  ({ workingDirectory, maxWorkdirBytes, interruptGraceMs }) =>
    createLocalExecutor({ workingDirectory, python, maxWorkdirBytes, interruptGraceMs, launcher }),
  { unavailableReason },
);

describe("forked kernels", () => {
  const directories: string[] = [];
  afterAll(async () => {
    await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
  });
  const newDirectory = async () => {
    const directory = await mkdtemp(join(tmpdir(), "tw-fork-test-"));
    directories.push(directory);
    return directory;
  };

  test.skipIf(skip)(
    "start with the working-directory limit's RLIMIT_FSIZE set by the fork, so no execute sets it, and with no warm-up left behind",
    { timeout: 120_000 },
    async () => {
      const sent: string[] = [];
      const recording: KernelLauncher = {
        async launch(options) {
          const kernel = await installing.launch(options);
          const execute = kernel.client.execute.bind(kernel.client);
          kernel.client.execute = (code, requestOptions) => {
            sent.push(code);
            return execute(code, requestOptions);
          };
          return kernel;
        },
      };
      const limit = 3 * 1024 * 1024;
      const executor = createLocalExecutor({
        workingDirectory: await newDirectory(),
        launcher: recording,
        maxWorkdirBytes: limit,
        maxOutputChars: CONFORMANCE_MAX_OUTPUT_CHARS,
      });
      try {
        const result = await executor.execute(
          "import json, resource, sys\n" +
            "plt = sys.modules['matplotlib.pyplot']\n" +
            "print(json.dumps([list(resource.getrlimit(resource.RLIMIT_FSIZE)), plt.get_fignums(), sorted(k for k in globals() if not k.startswith('_'))]))",
        );
        expect(result.outcome).toBe("ok");
        const [fileSize, figures, names] = JSON.parse(result.stdout.join("")) as [number[], number[], string[]];
        expect(fileSize).toEqual([limit, limit]);
        // The template's warm-up (a figure, a frame, cell machinery) leaves no figure and no name.
        expect(figures).toEqual([]);
        expect(names.filter((name) => !["In", "Out", "exit", "quit", "get_ipython", "json", "resource", "sys", "plt"].includes(name))).toEqual([]);
        // The only execute is the user's: the limit came with the fork, the support code with the child.
        expect(sent).toHaveLength(1);
      } finally {
        await executor.stop();
      }
    },
  );

  test.skipIf(skip)(
    "come from the template, with pandas already imported, and report their own pid",
    { timeout: 120_000 },
    async () => {
      const executor = createLocalExecutor({ workingDirectory: await newDirectory(), launcher });
      try {
        await executor.start();
        expect(executor.info.details.start).toBe("fork");
        const result = await executor.execute(
          "import json, os, sys\nprint(json.dumps([os.getpid(), os.getppid(), os.getpgid(0) == os.getpid(), 'pandas' in sys.modules]))",
        );
        expect(result.outcome).toBe("ok");
        const [pid, parent, leader, pandas] = JSON.parse(result.stdout.join("")) as [number, number, boolean, boolean];
        expect(pid).toBe(Number(executor.info.details.pid));
        expect(parent).toBe(launcher.template?.pid);
        expect(leader).toBe(true);
        expect(pandas).toBe(true);
        // Memory per kernel, read when asked: the shared template pages make PSS well below RSS.
        const memory = await executor.readMemory!();
        expect(memory!.ussBytes).toBeGreaterThan(0);
        expect(memory!.pssBytes).toBeGreaterThan(memory!.ussBytes);
        expect(memory!.rssBytes).toBeGreaterThan(memory!.pssBytes);
        // Details are plain values: reading them (every execution does) reads no /proc file.
        expect(Object.keys(executor.info.details)).not.toContain("pssBytes");
        expect(warnings).toEqual([]);
      } finally {
        await executor.stop();
      }
    },
  );

  test.skipIf(skip)(
    "with supportOptions, a forked kernel has the support code installed in its directory before its first request",
    { timeout: 120_000 },
    async () => {
      const directory = await newDirectory();
      const kernel = await installing.launch({ workingDirectory: directory });
      try {
        expect([kernel.prepared, kernel.bound]).toEqual([true, true]);
        const reply = await kernel.client.execute(
          "import os, sys\nassert sys.modules['_taskweaver_support']._state['workdir'] == os.getcwd() == " +
            `${JSON.stringify(directory)}\nassert get_ipython().ast_node_interactivity == 'last_expr_or_assign'`,
        ).done;
        expect(reply.content.status, JSON.stringify(reply.content)).toBe("ok");
      } finally {
        await kernel.stop();
      }
      // Without supportOptions the executor bootstraps, as for a spawned kernel.
      const plain = await launcher.launch({ workingDirectory: directory });
      try {
        expect([plain.prepared ?? false, plain.bound ?? false]).toEqual([false, false]);
      } finally {
        await plain.stop();
      }
    },
  );

  test.skipIf(skip)(
    "share no state: a module patched in one kernel is untouched in another",
    { timeout: 120_000 },
    async () => {
      const first = createLocalExecutor({ workingDirectory: await newDirectory(), launcher });
      const second = createLocalExecutor({ workingDirectory: await newDirectory(), launcher });
      try {
        await Promise.all([first.start(), second.start()]);
        const patched = await first.execute(
          "import math, sys, types\nmath.pi = 3.0\nsys.modules['tw_marker'] = types.ModuleType('tw_marker')\nmath.pi",
        );
        expect(patched.output).toBe("3.0");
        const other = await second.execute("import math, sys\n(math.pi, 'tw_marker' in sys.modules)");
        expect(other.output).toBe("(3.141592653589793, False)");
        // The shell is built once in the template; each kernel's namespace, history, Jupyter
        // session (id, pid) and kernel object are its own.
        await first.execute("only_in_first = 1");
        const identity =
          "import os\nshell = get_ipython()\n(shell.kernel.session.session, shell.kernel.session.pid == os.getpid(), 'only_in_first' in shell.user_ns, shell.execution_count, len(shell.user_ns['In']))";
        const [firstIdentity, secondIdentity] = [await first.execute(identity), await second.execute(identity)];
        const secondValues = /^\('([0-9a-f-]+)', True, False, (\d+), (\d+)\)$/.exec(secondIdentity.output);
        expect(secondValues, secondIdentity.output).not.toBeNull();
        expect(firstIdentity.output).toMatch(/, True, True, \d+, \d+\)$/);
        expect(firstIdentity.output).not.toContain(`'${secondValues![1]}'`);
        // This is the second kernel's second cell: its count and history are its own.
        expect([Number(secondValues![2]), Number(secondValues![3])]).toEqual([2, 3]);
        // A third kernel forked after the patch: the template was never touched either.
        const third = createLocalExecutor({ workingDirectory: await newDirectory(), launcher });
        try {
          const fresh = await third.execute("import math, sys\n(math.pi, 'tw_marker' in sys.modules)");
          expect(fresh.output).toBe("(3.141592653589793, False)");
        } finally {
          await third.stop();
        }
        // Random numbers differ between siblings (numpy's global state is reseeded per child).
        const [a, b] = await Promise.all([
          first.execute("import numpy as np\nnp.random.randint(0, 2**31)"),
          second.execute("import numpy as np\nnp.random.randint(0, 2**31)"),
        ]);
        expect(a.output).not.toBe(b.output);
      } finally {
        await Promise.all([first.stop(), second.stop()]);
      }
    },
  );

  test.skipIf(skip)(
    "have their own working directory, environment and limits, and no BLAS threads from the template",
    { timeout: 120_000 },
    async () => {
      const limited = createForkKernelLauncher({
        resolvePython: () => Promise.resolve(python ?? "python3"),
        env: { TW_FORK_MARKER: "one", OPENBLAS_NUM_THREADS: "2" },
        limits: { RLIMIT_NOFILE: [200, 200] },
        onWarning: (message) => warnings.push(message),
      });
      const firstDirectory = await newDirectory();
      const secondDirectory = await newDirectory();
      const first = createLocalExecutor({ workingDirectory: firstDirectory, launcher: limited });
      const second = createLocalExecutor({ workingDirectory: secondDirectory, launcher });
      const check =
        "import os, resource\n(os.getcwd(), os.environ.get('TW_FORK_MARKER'), resource.getrlimit(resource.RLIMIT_NOFILE)[0], os.environ.get('OPENBLAS_NUM_THREADS'))";
      // OpenBLAS's pool as the child's environment sizes it (threadpoolctl, where installed).
      const blasThreads =
        "try:\n    import threadpoolctl\n    threads = [pool['num_threads'] for pool in threadpoolctl.threadpool_info() if pool.get('internal_api') == 'openblas']\nexcept ImportError:\n    threads = None\nthreads";
      try {
        const one = await first.execute(check);
        const two = await second.execute(check);
        expect(one.output).toBe(`('${firstDirectory}', 'one', 200, '2')`);
        const pools = (await first.execute(blasThreads)).output;
        expect(["None", "[]", "[2]"], pools).toContain(pools);
        expect((await first.execute("import os\n%pwd")).output).toBe(`'${firstDirectory}'`);
        expect(two.output).not.toContain("'one'");
        expect(two.output).toContain(`'${secondDirectory}'`);
        expect(two.output).not.toContain(", 200,");
        expect(two.output).toMatch(process.env.OPENBLAS_NUM_THREADS ? new RegExp(`'${process.env.OPENBLAS_NUM_THREADS}'\\)$`) : /None\)$/);
        // The template stayed single-threaded (checked at its start), so fork was safe.
        expect(limited.template?.imported).toContain("numpy");
      } finally {
        await Promise.all([first.stop(), second.stop()]);
        await limited.dispose();
      }
    },
  );

  test.skipIf(skip)(
    "a kernel is forked from a restarted template after the template dies, then spawned after a second death",
    { timeout: 180_000 },
    async () => {
      const messages: string[] = [];
      const fragile = createForkKernelLauncher({
        resolvePython: () => Promise.resolve(python ?? "python3"),
        onWarning: (message) => messages.push(message),
      });
      const executor = createLocalExecutor({ workingDirectory: await newDirectory(), launcher: fragile });
      try {
        expect((await executor.execute("x = 1\nx")).output).toBe("1");
        const firstTemplate = fragile.template!;
        process.kill(firstTemplate.pid, "SIGKILL");
        await firstTemplate.exited;
        // Its kernel died with it; the executor says so and gets a kernel from a new template.
        // The death is noticed by this execution (kernel-died) or just before it (a fresh kernel).
        const noticed = await executor.execute("'x' in dir()");
        expect(noticed.stateLost).toBe(true);
        const after = noticed.outcome === "kernel-died" ? await executor.execute("'x' in dir()") : noticed;
        expect(after.output, JSON.stringify(after)).toBe("False");
        expect(executor.info.details.start).toBe("fork");
        expect(fragile.template?.pid).not.toBe(firstTemplate.pid);
        expect(messages).toEqual([]);
        // A second death: forking is given up, said once, and kernels are spawned.
        const secondTemplate = fragile.template!;
        process.kill(secondTemplate.pid, "SIGKILL");
        await secondTemplate.exited;
        const lost = await executor.execute("1 + 1");
        const spawned = lost.outcome === "kernel-died" ? await executor.execute("1 + 1") : lost;
        expect(spawned.output).toBe("2");
        expect(executor.info.details.start).toBeUndefined();
        expect(fragile.fellBack).toBe(true);
        expect(messages).toHaveLength(1);
        expect(messages[0]).toContain("spawned instead of forked");
      } finally {
        await executor.stop();
        await fragile.dispose();
      }
    },
  );

  test.skipIf(skip)(
    "a template that cannot start makes the launcher spawn, said once",
    { timeout: 120_000 },
    async () => {
      const messages: string[] = [];
      const badPython = createForkKernelLauncher({
        resolvePython: () => Promise.resolve("/nonexistent/python3"),
        onWarning: (message) => messages.push(message),
        fallback: createLocalKernelLauncher({ resolvePython: () => Promise.resolve(python ?? "python3") }),
      });
      const first = createLocalExecutor({ workingDirectory: await newDirectory(), launcher: badPython });
      const second = createLocalExecutor({ workingDirectory: await newDirectory(), launcher: badPython });
      try {
        expect((await first.execute("1 + 1")).output).toBe("2");
        expect((await second.execute("2 + 2")).output).toBe("4");
        expect(badPython.fellBack).toBe(true);
        expect(messages).toHaveLength(1);
      } finally {
        await Promise.all([first.stop(), second.stop()]);
        await badPython.dispose();
      }
    },
  );

  test.skipIf(skip)(
    "the local factory with kernel_start fork forks under the warm pool too, and dispose() ends the template",
    { timeout: 120_000 },
    async () => {
      const directory = await newDirectory();
      const config = await loadConfig({
        appDir: directory,
        env: {},
        overrides: {
          ...(python ? { "execution_service.python": python } : {}),
          "execution_service.warm_pool_size": 1,
          "execution_service.kernel_start": "fork",
        },
      });
      const before = new Set(trackedKernelProcessGroups());
      const factory = createLocalExecutorFactory(config);
      const executor = await factory({ sessionId: "fork", workingDirectory: join(directory, "session") });
      try {
        const result = await executor.execute("import os\nos.getcwd()");
        expect(result.output).toBe(`'${join(directory, "session")}'`);
        expect(executor.info.details.start).toBe("fork");
      } finally {
        await executor.stop();
        await factory.dispose();
      }
      expect(trackedKernelProcessGroups().filter((pid) => !before.has(pid))).toEqual([]);
    },
  );

  test.skipIf(skip)(
    "with kernel_start auto (the default) the first kernel is spawned while the template starts, later ones are forked",
    { timeout: 120_000 },
    async () => {
      const directory = await newDirectory();
      const config = await loadConfig({
        appDir: directory,
        env: {},
        // Sandboxed kernels are always spawned; this test is about forking.
        overrides: { "execution_service.local.sandbox": "none", ...(python ? { "execution_service.python": python } : {}) },
      });
      expect(config.get("execution_service.kernel_start")).toBe("auto");
      const factory = createLocalExecutorFactory(config);
      const first = await factory({ sessionId: "first", workingDirectory: join(directory, "first") });
      try {
        expect((await first.execute("1 + 1")).output).toBe("2");
        expect(first.info.details.start).toBeUndefined();
        // The template imports in the background; sessions fork once it is ready.
        let forked = false;
        for (let attempt = 0; attempt < 60 && !forked; attempt += 1) {
          const later = await factory({ sessionId: `later-${attempt}`, workingDirectory: join(directory, "later") });
          try {
            expect((await later.execute("1 + 1")).output).toBe("2");
            forked = later.info.details.start === "fork";
          } finally {
            await later.stop();
          }
          if (!forked) await new Promise((resolve) => setTimeout(resolve, 1_000));
        }
        expect(forked).toBe(true);
      } finally {
        await first.stop();
        await factory.dispose();
      }
    },
  );

  test.skipIf(skip)(
    "a template that cannot start does not hold the host for the rest of its start timeout",
    { timeout: 60_000 },
    async () => {
      const serverModule = join(dirname(fileURLToPath(import.meta.url)), "fork-server.ts");
      // `false` exits at once, as a template whose Python cannot open its file does.
      const script = [
        `import { startForkServer } from ${JSON.stringify(serverModule)};`,
        "await startForkServer({ python: 'false', startTimeoutMs: 120_000 }).catch((error) => console.log(`FAILED ${error.message}`));",
      ].join("\n");
      const started = Date.now();
      const host = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      host.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
      try {
        // Bounded below the test's own timeout, so that a host that hangs is still killed here.
        const code = await Promise.race([
          new Promise<number | null>((resolve) => host.once("exit", resolve)),
          delay(45_000, "still running", { ref: false }),
        ]);
        expect(output).toMatch(/FAILED The kernel template \(false\) stopped while importing/);
        expect(code).toBe(0);
        // Well before the 120 s timeout: nothing of the failed start keeps the event loop alive.
        expect(Date.now() - started).toBeLessThan(30_000);
      } finally {
        if (host.exitCode === null && host.signalCode === null) process.kill(host.pid!, "SIGKILL");
      }
    },
  );

  test.skipIf(skip)(
    "a forked kernel and the programs it started die with a host killed by SIGKILL",
    { timeout: 120_000 },
    async () => {
      const directory = await newDirectory();
      const launcherModule = join(dirname(fileURLToPath(import.meta.url)), "fork-kernel-launcher.ts");
      const executorModule = join(dirname(fileURLToPath(import.meta.url)), "local-executor.ts");
      const script = [
        `import { createForkKernelLauncher } from ${JSON.stringify(launcherModule)};`,
        `import { createLocalExecutor } from ${JSON.stringify(executorModule)};`,
        `const launcher = createForkKernelLauncher({ resolvePython: () => Promise.resolve(${JSON.stringify(python ?? "python3")}) });`,
        `const executor = createLocalExecutor({ workingDirectory: ${JSON.stringify(directory)}, launcher });`,
        "const kernel = await executor.execute('import os\\nos.getpid()');",
        "const child = await executor.execute(\"import subprocess\\nsubprocess.Popen(['sleep', '300']).pid\");",
        "console.log(`PIDS=${kernel.output},${child.output},${launcher.template.pid}`);",
        "setInterval(() => undefined, 1_000);",
      ].join("\n");
      const host = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      host.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
      host.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
      try {
        const deadline = Date.now() + 90_000;
        while (!/PIDS=\d+,\d+,\d+/.test(output) && host.exitCode === null && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 100));
        const match = /PIDS=(\d+),(\d+),(\d+)/.exec(output);
        expect(match, output).not.toBeNull();
        const pids = match!.slice(1).map(Number);
        expect(pids.every(isAlive)).toBe(true);
        host.kill("SIGKILL");
        const gone = Date.now() + 10_000;
        while (pids.some(isAlive) && Date.now() < gone) await new Promise((resolve) => setTimeout(resolve, 100));
        expect(pids.filter(isAlive)).toEqual([]);
      } finally {
        host.kill("SIGKILL");
      }
    },
  );
});

/** Alive and not a zombie waiting to be reaped. */
function isAlive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] !== "Z";
  } catch {
    return false;
  }
}
