import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig, TaskWeaverError } from "@taskweaver/core";
import { createExecutorFactory, findPythonWithIpykernelSync } from "@taskweaver/executor";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));
const repositoryRoot = join(here, "..", "..");
const fixture = join(here, "executor-host-fixture.ts");

let python: string | undefined;
let unavailable: string | undefined;
try {
  python = findPythonWithIpykernelSync();
} catch (error) {
  unavailable = (error as Error).message;
}
// Under CI a missing Python fails these tests instead of skipping them.
const runIf = unavailable === undefined || process.env.CI === "true" ? describe : describe.skip;

function isAlive(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return condition();
}

const directories: string[] = [];
afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

async function startHost(
  mode: string,
): Promise<{ host: ChildProcess; kernelPid: number; childPid: number; output: () => string }> {
  if (unavailable !== undefined) throw new Error(unavailable);
  const directory = await mkdtemp(join(tmpdir(), "tw-e2e-host-"));
  directories.push(directory);
  // Node itself with tsx's loader (the tsx CLI would put a signal-relaying parent in between).
  const host = spawn(process.execPath, ["--import", "tsx", fixture, mode, directory], {
    cwd: repositoryRoot,
    env: { ...process.env, TASKWEAVER_TEST_PYTHON: python },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  host.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  host.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const pattern = /KERNEL_PID=(\d+) CHILD_PID=(\d+)/;
  const found = await waitUntil(() => pattern.test(output) || host.exitCode !== null, 90_000);
  const match = pattern.exec(output);
  if (!found || !match) throw new Error(`the host did not report its kernel:\n${output}`);
  const kernelPid = Number(match[1]);
  const childPid = Number(match[2]);
  expect(isAlive(kernelPid)).toBe(true);
  expect(isAlive(childPid)).toBe(true);
  return { host, kernelPid, childPid, output: () => output };
}

const exited = (host: ChildProcess) =>
  new Promise<void>((resolve) =>
    host.exitCode !== null || host.signalCode !== null ? resolve() : host.once("exit", () => resolve()),
  );

runIf("local kernels never outlive their host process", () => {
  test("a host that exits normally takes its kernel with it", { timeout: 120_000 }, async () => {
    const { host, kernelPid, childPid } = await startHost("exit");
    await exited(host);
    expect(await waitUntil(() => !isAlive(kernelPid) && !isAlive(childPid), 10_000)).toBe(true);
  });

  test(
    "a host that crashes on an uncaught exception takes its kernel with it",
    { timeout: 120_000 },
    async () => {
      const { host, kernelPid, childPid, output } = await startHost("throw");
      await exited(host);
      expect(output()).toContain("crash on purpose");
      expect(await waitUntil(() => !isAlive(kernelPid) && !isAlive(childPid), 10_000)).toBe(true);
    },
  );

  test("SIGTERM to the host kills its kernel", { timeout: 120_000 }, async () => {
    const { host, kernelPid, childPid } = await startHost("wait");
    host.kill("SIGTERM");
    await exited(host);
    expect(host.signalCode).toBe("SIGTERM");
    expect(await waitUntil(() => !isAlive(kernelPid) && !isAlive(childPid), 10_000)).toBe(true);
  });

  test(
    "a host killed with SIGKILL still takes its kernel and the kernel's programs with it (parent-death signal)",
    { timeout: 120_000 },
    async () => {
      const { host, kernelPid, childPid } = await startHost("wait");
      host.kill("SIGKILL");
      await exited(host);
      expect(await waitUntil(() => !isAlive(kernelPid) && !isAlive(childPid), 10_000)).toBe(true);
    },
  );

  test(
    "SIGINT handled by the application (a CLI interrupting its round) leaves the kernel running",
    { timeout: 120_000 },
    async () => {
      const { host, kernelPid, childPid, output } = await startHost("own-sigint");
      host.kill("SIGINT");
      expect(await waitUntil(() => output().includes("SIGINT_HANDLED"), 10_000)).toBe(true);
      expect(isAlive(kernelPid) && isAlive(childPid)).toBe(true);
      host.kill("SIGTERM");
      await exited(host);
      expect(await waitUntil(() => !isAlive(kernelPid) && !isAlive(childPid), 10_000)).toBe(true);
    },
  );
});

runIf("the executor factory of an app", () => {
  let appDir: string;
  beforeAll(async () => {
    appDir = await mkdtemp(join(tmpdir(), "tw-e2e-app-"));
    directories.push(appDir);
  });

  test(
    "runs code in the session's working directory with the configured limits",
    { timeout: 120_000 },
    async () => {
      const config = loadConfig({
        appDir,
        env: {},
        overrides: {
          "execution_service.max_output_chars": 50,
          ...(python ? { "execution_service.python": python } : {}),
        },
      });
      const factory = createExecutorFactory(config);
      const workingDirectory = join(appDir, "workspace", "sessions", "s1", "cwd");
      const executor = await factory({ sessionId: "s1", workingDirectory });
      try {
        expect(executor.info.kind).toBe("local");
        expect(executor.workingDirectory).toBe(workingDirectory);
        const result = await executor.execute("import os\nprint('y' * 80)\nos.getcwd()");
        expect(result.output).toBe(`'${workingDirectory}'`);
        expect(result.stdout.join("")).toBe("y".repeat(50));
        expect(result.notes.join(" ")).toMatch(/cut/);
      } finally {
        await executor.stop();
      }
    },
  );

  test("reports a kernel mode it cannot set up as a TaskWeaverError", () => {
    const config = loadConfig({
      appDir,
      env: {},
      overrides: { "execution_service.kernel_mode": "remote" },
    });
    let caught: unknown;
    try {
      createExecutorFactory(config);
    } catch (error) {
      caught = error;
    }
    expect(TaskWeaverError.isInstance(caught)).toBe(true);
  });
});
