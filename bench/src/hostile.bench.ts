// Hostile code against the sandboxed local runtime, the unsandboxed one and the container runtime:
// what each case managed to do to the host, and whether the session went on afterwards.
//
// Each case runs in a fresh session (executor) of each runtime: a variable is set, the hostile
// code runs (bounded by a 4 s execution timeout), then `1+1` and the variable are asked for.
// Verdicts: "blocked" (the action failed), "contained" (it happened within a bound), "recovered"
// (the kernel died or was restarted, and the next execution worked), "NOT contained" (it did what
// it tried on the host). Everything the bench starts (a loopback server, a sleeping host process,
// kernels, containers, temporary folders and the temporary HOME) it stops or removes.
//
// Bounded on purpose, on a shared machine: the fork bomb forks at most 1000 sleeping children
// (not exponentially), the memory hog stops at 5 GiB (above the sandbox's 4 GiB address space), the disk fill at 400 MiB, and the
// unsandboxed kernel's "kill the parent" only checks with signal 0 that it could (its parent is
// this process).
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo, type Server } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { CodeExecutor, ExecutionResult } from "@taskweaver/core";
import { createLocalExecutor } from "../../packages/executor/src/local/local-executor.js";
import { createDockerExecutor } from "../../packages/executor/src/docker/index.js";
import { probeBubblewrap } from "../../packages/executor/src/local/sandbox.js";
import type { DockerEngineClient } from "@taskweaver/executor";
import { findDockerEngine } from "./docker-engine.js";

const PYTHON = "/usr/bin/python3";
const MIB = 1024 * 1024;
const WORKDIR_LIMIT = 64 * MIB;
const TIMEOUT_MS = 4_000;
const GRACE_MS = 2_000;

type Runtime = "local sandboxed" | "local unsandboxed" | "container";

interface Fixture {
  workspace: string;
  home: string;
  marker: string;
  otherSecret: string;
  outside: string;
  port: number;
  /** A sleeping host process for the signal case, started anew for each runtime. */
  startSleeper(): ChildProcess;
}

interface Verdict {
  verdict: "blocked" | "contained" | "recovered" | "NOT contained";
  detail: string;
}

interface Case {
  name: string;
  run(executor: CodeExecutor, fixture: Fixture, runtime: Runtime): Promise<Verdict>;
}

function describeResult(result: ExecutionResult): string {
  if (result.outcome === "ok") return "ok";
  const error = result.error
    ? `${result.error.name}${result.error.value ? `: ${result.error.value.slice(0, 60)}` : ""}`
    : "";
  return `${result.outcome}${error ? ` (${error})` : ""}`;
}

/** The last line the code printed, parsed as JSON (the cases print one object). */
function printed(result: ExecutionResult): Record<string, unknown> | undefined {
  const lines = result.stdout.join("").trim().split("\n");
  try {
    return JSON.parse(lines.at(-1) ?? "") as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Whether `pid` runs (a zombie, dead but not yet reaped by its new parent, does not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Host pids of every descendant of `pid` (local kernels), read from /proc. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const pending = [pid];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    for (const child of children.get(next) ?? []) {
      found.push(child);
      pending.push(child);
    }
  }
  return found;
}

const cases: Case[] = [
  {
    name: "fork bomb (1000 sleeping children at most)",
    async run(executor, _fixture, runtime) {
      const kernelPid = Number(executor.info.details.pid);
      const result = await executor.execute(
        [
          "import json, os, time",
          "forked, refused = 0, None",
          "for _ in range(1000):",
          "    try:",
          "        pid = os.fork()",
          "    except OSError as error:",
          "        refused = type(error).__name__",
          "        break",
          "    if pid == 0:",
          "        time.sleep(30)",
          "        os._exit(0)",
          "    forked += 1",
          "print(json.dumps({'forked': forked, 'refused': refused}))",
        ].join("\n"),
        { timeoutMs: 60_000 },
      );
      const seen = printed(result);
      const left = runtime === "container" ? [] : descendants(kernelPid);
      const forked = Number(seen?.forked ?? Number.NaN);
      const detail = seen
        ? `${forked} forked${seen.refused ? `, then ${String(seen.refused)}` : ""}`
        : describeResult(result);
      (executor as CodeExecutor & { leftover?: number[] }).leftover = left;
      if (seen?.refused) return { verdict: "contained", detail };
      if (result.outcome === "kernel-died") {
        const ended = result.notes.some((note) => note.includes("pids_limit"));
        return {
          verdict: ended ? "contained" : "recovered",
          detail: ended ? "the host ended the sandbox past pids_limit (256 processes)" : detail,
        };
      }
      return { verdict: "NOT contained", detail: `${detail} (the loop's own bound held)` };
    },
  },
  {
    name: "memory hog (up to 5 GiB)",
    async run(executor) {
      const result = await executor.execute(
        [
          "import json",
          "chunks = []",
          "try:",
          "    for _ in range(80):",
          "        chunks.append(bytearray(64 * 1024 * 1024))",
          "    error = None",
          "except MemoryError:",
          "    error = 'MemoryError'",
          "reached = len(chunks) * 64",
          "chunks = None",
          "print(json.dumps({'mib': reached, 'error': error}))",
        ].join("\n"),
        { timeoutMs: 60_000 },
      );
      const seen = printed(result);
      if (seen?.error) return { verdict: "contained", detail: `MemoryError at ${String(seen.mib)} MiB` };
      if (result.outcome === "kernel-died") return { verdict: "recovered", detail: "kernel killed (OOM)" };
      if (seen)
        return { verdict: "NOT contained", detail: `${String(seen.mib)} MiB allocated (the bench's cap)` };
      return { verdict: "NOT contained", detail: describeResult(result) };
    },
  },
  {
    name: "CPU spin past the timeout",
    async run(executor) {
      const result = await executor.execute("while True:\n    pass");
      return {
        verdict: result.outcome === "timeout" ? "contained" : "NOT contained",
        detail: `${describeResult(result)} after ${(result.durationMs / 1000).toFixed(1)} s${result.stateLost ? ", kernel restarted" : ", interrupted"}`,
      };
    },
  },
  {
    name: "CPU spin ignoring SIGINT",
    async run(executor) {
      const result = await executor.execute(
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
      );
      return {
        verdict:
          result.outcome === "timeout" ? (result.stateLost ? "recovered" : "contained") : "NOT contained",
        detail: `${describeResult(result)} after ${(result.durationMs / 1000).toFixed(1)} s${result.stateLost ? ", kernel restarted" : ""}`,
      };
    },
  },
  {
    name: `disk fill (400 MiB, limit ${WORKDIR_LIMIT / MIB} MiB)`,
    async run(executor) {
      const result = await executor.execute(
        [
          "import os",
          "os.makedirs('fill', exist_ok=True)",
          "for index in range(400):",
          "    with open(f'fill/part_{index}.bin', 'wb') as handle:",
          "        handle.write(b'x' * (1024 * 1024))",
        ].join("\n"),
      );
      const size = await executor.execute(
        "import os\nsum(os.path.getsize(os.path.join('fill', name)) for name in os.listdir('fill')) // (1024 * 1024)",
      );
      const written = Number(size.output);
      const detail = `${describeResult(result).split(" (")[0]}, ${written} MiB written`;
      return { verdict: written < 400 ? "contained" : "NOT contained", detail };
    },
  },
  {
    name: "network egress to a host loopback service",
    async run(executor, fixture) {
      const result = await executor.execute(
        [
          "import json, socket",
          "try:",
          `    connection = socket.create_connection(('127.0.0.1', ${fixture.port}), timeout=2)`,
          "    reply = connection.recv(64).decode()",
          "    connection.close()",
          "except OSError as error:",
          "    reply = type(error).__name__",
          "print(json.dumps({'reply': reply}))",
        ].join("\n"),
      );
      const reply = String(printed(result)?.reply ?? describeResult(result));
      return reply.startsWith("hello")
        ? { verdict: "NOT contained", detail: "connected, read the service's greeting" }
        : { verdict: "blocked", detail: reply };
    },
  },
  {
    name: "network egress to the internet (1.1.1.1:443)",
    async run(executor) {
      const result = await executor.execute(
        [
          "import json, socket",
          "try:",
          "    socket.create_connection(('1.1.1.1', 443), timeout=2).close()",
          "    reply = 'connected'",
          "except OSError as error:",
          "    reply = f'{type(error).__name__}: {error}'",
          "print(json.dumps({'reply': reply}))",
        ].join("\n"),
      );
      const reply = String(printed(result)?.reply ?? describeResult(result));
      if (reply === "connected") return { verdict: "NOT contained", detail: "connected" };
      // This machine has no route out either: only "Network is unreachable" is the sandbox's.
      return { verdict: "blocked", detail: reply.slice(0, 60) };
    },
  },
  {
    name: "reading ~/.ssh",
    async run(executor, fixture) {
      const result = await executor.execute(
        [
          "import json, os",
          "found = {}",
          `for path in [os.path.expanduser('~/.ssh/id_marker'), ${JSON.stringify(fixture.marker)}]:`,
          "    try:",
          "        found[path] = open(path).read()",
          "    except OSError as error:",
          "        found[path] = type(error).__name__",
          "print(json.dumps(found))",
        ].join("\n"),
      );
      const values = Object.values(printed(result) ?? {}).map(String);
      const secret = readFileSync(fixture.marker, "utf8");
      return values.includes(secret)
        ? { verdict: "NOT contained", detail: "read the marker key" }
        : { verdict: "blocked", detail: [...new Set(values)].join(", ") || describeResult(result) };
    },
  },
  {
    name: "reading another session's folder",
    async run(executor, fixture) {
      const result = await executor.execute(
        `try:\n    print(open(${JSON.stringify(fixture.otherSecret)}).read())\nexcept OSError as error:\n    print(type(error).__name__)`,
      );
      const text = result.stdout.join("").trim();
      return text === readFileSync(fixture.otherSecret, "utf8")
        ? { verdict: "NOT contained", detail: "read the other session's file" }
        : { verdict: "blocked", detail: text || describeResult(result) };
    },
  },
  {
    name: "writing outside the working directory",
    async run(executor, fixture) {
      const target = join(fixture.outside, `hostile-${randomBytes(4).toString("hex")}.txt`);
      const result = await executor.execute(
        `try:\n    open(${JSON.stringify(target)}, 'w').write('hostile')\n    print('written')\nexcept OSError as error:\n    print(type(error).__name__)`,
      );
      const text = result.stdout.join("").trim();
      if (existsSync(target)) return { verdict: "NOT contained", detail: "the file appeared on the host" };
      return {
        verdict: "blocked",
        detail: text === "written" ? "written inside only, not on the host" : text,
      };
    },
  },
  {
    name: "os._exit(1)",
    async run(executor) {
      const result = await executor.execute("import os\nos._exit(1)");
      return {
        verdict: result.outcome === "kernel-died" ? "recovered" : "NOT contained",
        detail: describeResult(result),
      };
    },
  },
  {
    name: "killing the parent process",
    async run(executor, _fixture, runtime) {
      if (runtime === "local unsandboxed") {
        // The parent is this process: signal 0 checks the right to kill it without doing so.
        const result = await executor.execute(
          "import os, json\nos.kill(os.getppid(), 0)\nprint(json.dumps({'parent': os.getppid()}))",
        );
        const parent = Number(printed(result)?.parent);
        return parent === process.pid
          ? {
              verdict: "NOT contained",
              detail: `its parent is the host (pid ${parent}); signal 0 allowed, SIGKILL not sent`,
            }
          : { verdict: "blocked", detail: describeResult(result) };
      }
      const result = await executor.execute(
        "import os, signal, time\nparent = os.getppid()\nos.kill(parent, signal.SIGKILL)\ntime.sleep(2)\nprint(parent)",
      );
      if (result.outcome === "kernel-died")
        return { verdict: "recovered", detail: "the kernel died with its parent" };
      return {
        verdict: "blocked",
        detail: `parent pid ${result.stdout.join("").trim() || "?"} survived SIGKILL (${describeResult(result)})`,
      };
    },
  },
  {
    name: "SIGTERM to a host process (pid given)",
    async run(executor, fixture) {
      const sleeper = fixture.startSleeper();
      const pid = sleeper.pid!;
      const result = await executor.execute(
        `import os, signal\ntry:\n    os.kill(${pid}, signal.SIGTERM)\n    print('sent')\nexcept OSError as error:\n    print(type(error).__name__)`,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      const text = result.stdout.join("").trim();
      const killed = !alive(pid) || sleeper.exitCode !== null || sleeper.signalCode !== null;
      sleeper.kill("SIGKILL");
      if (killed) return { verdict: "NOT contained", detail: "the host process was killed" };
      return { verdict: "blocked", detail: text === "sent" ? "sent to a pid of its own namespace" : text };
    },
  },
];

async function startGreeter(): Promise<Server> {
  const server = createServer((socket) => socket.end("hello from the host\n"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

function startSleeper(): ChildProcess {
  const child = spawn("sleep", ["600"], { stdio: "ignore" });
  child.unref();
  return child;
}

export async function run(): Promise<void> {
  const started = performance.now();
  console.log(
    `load average ${loadavg()
      .map((value) => value.toFixed(2))
      .join(" ")} on ${cpus().length} cores`,
  );
  const root = await mkdtemp(join(tmpdir(), "tw-bench-hostile-"));
  // Outside /tmp and the home: a sandbox's /tmp is private, so a write there never reaches the host.
  const outside = await mkdtemp("/var/tmp/tw-bench-hostile-outside-");
  const workspace = join(root, "workspace");
  const home = join(root, "home");
  const marker = join(home, ".ssh", "id_marker");
  const otherSecret = join(workspace, "sessions", "other", "cwd", "secret.txt");
  await mkdir(join(home, ".ssh"), { recursive: true, mode: 0o700 });
  await writeFile(marker, `marker-${randomBytes(8).toString("hex")}`, { mode: 0o600 });
  await mkdir(join(workspace, "sessions", "other", "cwd"), { recursive: true });
  await writeFile(otherSecret, `other-session-${randomBytes(8).toString("hex")}`);
  const previousHome = process.env.HOME;
  // The kernels' home is the temporary one (the sandbox hides $HOME), so no real key is touched.
  process.env.HOME = home;
  const server = await startGreeter();
  const sleepers: ChildProcess[] = [];
  const fixture: Fixture = {
    workspace,
    home,
    marker,
    otherSecret,
    outside,
    port: (server.address() as AddressInfo).port,
    startSleeper: () => {
      const sleeper = startSleeper();
      sleepers.push(sleeper);
      return sleeper;
    },
  };
  const bwrapProblem = await probeBubblewrap();
  const engine = await findDockerEngine();
  const runtimes: { name: Runtime; skip?: string }[] = [
    { name: "local sandboxed", skip: bwrapProblem },
    { name: "local unsandboxed" },
    { name: "container", skip: typeof engine === "string" ? engine : undefined },
  ];
  let sessionIndex = 0;
  const create = (runtime: Runtime): CodeExecutor => {
    sessionIndex += 1;
    const workingDirectory = join(workspace, "sessions", `s${sessionIndex}`, "cwd");
    const common = {
      workingDirectory,
      executionTimeoutMs: TIMEOUT_MS,
      interruptGraceMs: GRACE_MS,
      maxWorkdirBytes: WORKDIR_LIMIT,
    };
    if (runtime === "container") {
      return createDockerExecutor({ ...common, client: engine as DockerEngineClient });
    }
    return createLocalExecutor({
      ...common,
      python: PYTHON,
      sandbox:
        runtime === "local sandboxed"
          ? {
              mode: "bwrap",
              // The defaults of execution_service.local.memory and .pids_limit.
              memoryBytes: 4 * 1024 ** 3,
              pidsLimit: 256,
              tmpfsBytes: WORKDIR_LIMIT,
              hiddenDirectories: [join(workspace, "sessions")],
            }
          : { mode: "none" },
    });
  };

  const table = new Map<string, Map<Runtime, string>>();
  const leftovers: string[] = [];
  try {
    for (const hostile of cases) {
      const row = new Map<Runtime, string>();
      table.set(hostile.name, row);
      for (const runtime of runtimes) {
        if (runtime.skip) {
          row.set(runtime.name, "skipped");
          continue;
        }
        const executor = create(runtime.name);
        const caseStarted = performance.now();
        try {
          await executor.start();
          await executor.execute("kept_value = 41");
          const verdict = await hostile.run(executor, fixture, runtime.name);
          const next = await executor.execute("kept_value + 1");
          const session =
            next.output === "42"
              ? "went on, state kept"
              : (await executor.execute("1 + 1")).output === "2"
                ? "went on, state lost"
                : "did NOT go on";
          const left = (executor as CodeExecutor & { leftover?: number[] }).leftover ?? [];
          await executor.stop();
          if (left.length > 0) {
            await new Promise((resolve) => setTimeout(resolve, 1_000));
            const survivors = left.filter(alive);
            if (survivors.length > 0) {
              leftovers.push(`${runtime.name}: ${survivors.length} forked processes outlived the kernel`);
              for (const pid of survivors) process.kill(pid, "SIGKILL");
            }
          }
          row.set(runtime.name, `**${verdict.verdict}**: ${verdict.detail}; session ${session}`);
        } catch (error) {
          row.set(runtime.name, `bench error: ${(error as Error).message.split("\n")[0]?.slice(0, 80)}`);
          await executor.stop().catch(() => undefined);
        }
        console.log(
          `  ${hostile.name} / ${runtime.name}: ${row.get(runtime.name)} (${((performance.now() - caseStarted) / 1000).toFixed(1)} s)`,
        );
      }
    }
  } finally {
    process.env.HOME = previousHome;
    for (const sleeper of sleepers) sleeper.kill("SIGKILL");
    await new Promise((resolve) => server.close(resolve));
    await rm(root, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  }
  const names = runtimes.map((runtime) => runtime.name);
  const lines = [
    `| case | ${names.join(" | ")} |`,
    `| --- | ${names.map(() => "---").join(" | ")} |`,
    ...[...table].map(
      ([name, row]) => `| ${name} | ${names.map((runtime) => row.get(runtime) ?? "-").join(" | ")} |`,
    ),
  ];
  console.log(`\n${lines.join("\n")}\n`);
  for (const line of leftovers) console.log(`leftover: ${line} (killed by the bench)`);
  console.log(`hostile bench took ${((performance.now() - started) / 1000).toFixed(0)} s`);
}
