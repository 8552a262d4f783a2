import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createExitCleanupList, exitHooksInstalled } from "./exit-cleanup.js";

const registryModule = join(dirname(fileURLToPath(import.meta.url)), "exit-cleanup.ts");
const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

/**
 * Runs a real Node process with two runtimes' lists, each holding one resource whose clean-up
 * appends a line to a file, then ends it as `ending` says; resolves with how it ended and the file.
 */
async function hostThatEnds(ending: string): Promise<{ code: number | null; signal: string | null; log: string }> {
  const folder = mkdtempSync(join(tmpdir(), "tw-exit-cleanup-"));
  folders.push(folder);
  const log = join(folder, "log.txt");
  const script = [
    `import { appendFileSync } from "node:fs";`,
    `import { createExitCleanupList } from ${JSON.stringify(registryModule)};`,
    `const write = (line) => appendFileSync(${JSON.stringify(log)}, line + "\\n");`,
    `const kernels = createExitCleanupList((values) => write("kernels " + values.join(",")));`,
    `const containers = createExitCleanupList((values) => write("containers " + values.join(",")));`,
    `kernels.add(1, "k1"); kernels.add(2, "k2"); kernels.delete(2); containers.add("c", "c1");`,
    ending,
    `setTimeout(() => write("still alive"), 300);`,
    `setTimeout(() => process.exit(0), 600);`,
  ].join("\n");
  const host = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  host.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
    host.once("exit", (exitCode, exitSignal) => resolve([exitCode, exitSignal])),
  );
  let text = "";
  try {
    text = readFileSync(log, "utf8");
  } catch {
    text = `(no log) ${stderr}`;
  }
  return { code, signal, log: text };
}

describe("the one exit hook of every runtime", () => {
  it("cleans up what each runtime still holds, once, when the process exits", async () => {
    const { code, log } = await hostThatEnds("process.exit(3);");
    expect(code).toBe(3);
    expect(log).toBe("kernels k1\ncontainers c1\n");
  });

  it("cleans up on SIGTERM when nothing else handles it, and the process still dies of the signal", async () => {
    const { signal, log } = await hostThatEnds(`process.kill(process.pid, "SIGTERM");`);
    expect(signal).toBe("SIGTERM");
    expect(log).toBe("kernels k1\ncontainers c1\n");
  });

  it("leaves a signal the application handles to the application, and cleans up when it exits", async () => {
    const { code, log } = await hostThatEnds(`process.on("SIGINT", () => write("interrupted")); process.kill(process.pid, "SIGINT");`);
    expect(code).toBe(0);
    expect(log).toBe("interrupted\nstill alive\nkernels k1\ncontainers c1\n");
  });

  it("cleans up before an uncaught exception ends the process", async () => {
    const { code, log } = await hostThatEnds(`setTimeout(() => { throw new Error("boom"); }, 10);`);
    expect(code).toBe(1);
    expect(log).toBe("kernels k1\ncontainers c1\n");
  });

  it("installs its hooks only while some resource is live, one listener for every runtime", () => {
    const before = process.listenerCount("exit");
    const kernels = createExitCleanupList<string, string>(() => undefined);
    const containers = createExitCleanupList<string, string>(() => undefined);
    kernels.add("a", "a");
    containers.add("b", "b");
    expect(exitHooksInstalled()).toBe(true);
    expect(process.listenerCount("exit")).toBe(before + 1);
    kernels.delete("a");
    expect(exitHooksInstalled()).toBe(true);
    containers.delete("b");
    expect(exitHooksInstalled()).toBe(false);
    expect(process.listenerCount("exit")).toBe(before);
  });
});
