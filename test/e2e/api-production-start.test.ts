// The production start as a process manager sees it: `pnpm serve` and the built `taskweaver-api`
// command are each one Node process that handles SIGTERM itself, so a `kill` of the process the
// package manager (or systemd, Docker, Kubernetes) started stops the server and its kernels.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, cleanEnvironment, createTestAppDir, type TestAppDir } from "../src/index.js";

const HEAVY_TEST_TIMEOUT = 180_000;
/** From SIGTERM to the server and its kernel being gone, with no round running. */
const STOP_BOUND_MS = 15_000;
const BIN = join(REPO_ROOT, "apps/api/dist/bin/taskweaver-api.js");

const children: ChildProcess[] = [];
const strays: number[] = [];
const appDirs: TestAppDir[] = [];

beforeAll(async () => {
  // Only the bundle step: the bin does not use the tsc output.
  await promisify(execFile)(process.execPath, [join(REPO_ROOT, "apps/api/scripts/build-bin.mjs")], {
    cwd: REPO_ROOT,
    timeout: 120_000,
  });
}, 150_000);

afterEach(() => {
  for (const pid of strays.splice(0)) if (isAlive(pid)) process.kill(pid, "SIGKILL");
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const dir of appDirs.splice(0)) dir.remove();
});

/** Parent pid and state of a process, from /proc; undefined once it is gone. */
function processStatus(pid: number): { parent: number; state: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may contain spaces; the fields after it are fixed.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0]!, parent: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  const status = processStatus(pid);
  return status !== undefined && status.state !== "Z";
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

/** Every process below `pid`. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const status = processStatus(Number(entry));
    if (status) parents.set(Number(entry), status.parent);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const current = queue.shift()!;
    for (const [child, parent] of parents) {
      if (parent === current) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Starts the command on 127.0.0.1 with a free port over a fresh app directory, opens a session,
 * and waits until its local kernel runs. Returns the server's pid (the process the command
 * started), the kernel's processes and the output so far.
 */
async function startWithKernel(command: string, args: string[]) {
  const dir = createTestAppDir({
    config: { "llm.api_base": "http://127.0.0.1:9/v1", "llm.api_key": "unused", "llm.model": "unused" },
  });
  appDirs.push(dir);
  const child = spawn(
    command,
    [
      ...args,
      "-p",
      dir.path,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--config",
      "api.shutdown_grace_period=5",
    ],
    { cwd: REPO_ROOT, env: cleanEnvironment({ TASKWEAVER_API_KEYS: "" }), stdio: ["ignore", "pipe", "pipe"] },
  );
  children.push(child);
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const url = await waitFor(
    "the server to listen",
    () => /listening on (http:\/\/\S+)/.exec(output)?.[1],
    60_000,
  );
  // The server is the Node process running serve: the spawned process itself, or (pnpm) its child.
  const serverPid = await waitFor(
    "the server process",
    () =>
      [child.pid!, ...descendants(child.pid!)].find((pid) =>
        /^(\S*\/)?node .*(serve\.ts|taskweaver-api\.js)/.test(commandLine(pid)),
      ),
    10_000,
  );
  strays.push(serverPid);
  const created = await fetch(`${url}/api/v1/sessions`, { method: "POST" });
  expect(created.status).toBe(201);
  const kernelPids = await waitFor(
    "the session's kernel",
    () => {
      const below = descendants(serverPid);
      return below.some((pid) => commandLine(pid).includes("ipykernel")) ? below : undefined;
    },
    90_000,
  );
  strays.push(...kernelPids);
  return { child, serverPid, kernelPids, exited, output: () => output };
}

async function expectStoppedBySigterm(
  started: Awaited<ReturnType<typeof startWithKernel>>,
  target = started.serverPid,
) {
  const signalled = performance.now();
  process.kill(target, "SIGTERM");
  await waitFor(
    "the server and its kernel to exit",
    () => (isAlive(started.serverPid) || started.kernelPids.some(isAlive) ? undefined : true),
    STOP_BOUND_MS,
  );
  const stopMs = performance.now() - signalled;
  expect(await started.exited).toBe(0);
  expect(started.output()).toContain("SIGTERM: finishing running rounds, then stopping.");
  expect(started.output()).toContain("Stopped.");
  return stopMs;
}

describe("production start", () => {
  it(
    "stops `pnpm serve` and its kernel when the process pnpm started gets SIGTERM",
    async () => {
      const started = await startWithKernel("pnpm", ["--silent", "serve"]);
      // pnpm's own child is the server: no shell or tsx wrapper in between to swallow the signal.
      expect(processStatus(started.serverPid)?.parent).toBe(started.child.pid);
      const stopMs = await expectStoppedBySigterm(started);
      console.log(`pnpm serve: SIGTERM to exit with the kernel gone in ${stopMs.toFixed(0)} ms`);
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "stops `pnpm serve` and its kernel when pnpm itself gets SIGTERM",
    async () => {
      const started = await startWithKernel("pnpm", ["--silent", "serve"]);
      const stopMs = await expectStoppedBySigterm(started, started.child.pid);
      console.log(
        `pnpm serve, pnpm signalled: SIGTERM to exit with the kernel gone in ${stopMs.toFixed(0)} ms`,
      );
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "stops the built taskweaver-api command, run by plain node, and its kernel on SIGTERM",
    async () => {
      const started = await startWithKernel(process.execPath, [BIN]);
      expect(started.serverPid).toBe(started.child.pid);
      expect(commandLine(started.serverPid)).not.toContain("tsx");
      const stopMs = await expectStoppedBySigterm(started);
      console.log(`taskweaver-api: SIGTERM to exit with the kernel gone in ${stopMs.toFixed(0)} ms`);
    },
    HEAVY_TEST_TIMEOUT,
  );
});
