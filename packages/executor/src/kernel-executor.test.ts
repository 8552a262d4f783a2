import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { createLocalExecutor } from "./local/local-executor.js";
import { findPythonWithIpykernelSync } from "./local/python-discovery.js";

let python: string | undefined;
try {
  python = findPythonWithIpykernelSync({ configured: process.env.TASKWEAVER_TEST_PYTHON });
} catch {
  python = undefined;
}
const directories: string[] = [];
afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

test.skipIf(python === undefined && process.env.CI !== "true")(
  "a plugin that never finishes loading times out, is reported as not loaded, and the executor keeps working",
  { timeout: 120_000 },
  async () => {
    const workingDirectory = await mkdtemp(join(tmpdir(), "tw-kernel-executor-"));
    directories.push(workingDirectory);
    const executor = createLocalExecutor({
      workingDirectory,
      python,
      executionTimeoutMs: 1_500,
      interruptGraceMs: 1_000,
    });
    try {
      await executor.execute("kept_variable = 7");
      // Like any plugin that cannot load, it is reported as a state; the executor goes on.
      const state = await executor.loadPlugin({ name: "stuck", code: "while True:\n    pass", config: {} });
      expect(state.loaded).toBe(false);
      expect(state.error).toMatch(/^Loading plugin stuck: it did not finish within 1.5 s and was interrupted\.$/);
      // The interrupt was enough: the kernel and its variables survive.
      expect((await executor.execute("kept_variable")).output).toBe("7");
    } finally {
      await executor.stop();
    }
  },
);
