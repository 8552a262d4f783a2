import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { CodeExecutor, ExecutionResult } from "@taskweaver/core";
import { createLocalExecutor } from "./local-executor.js";
import { findPythonWithIpykernelSync } from "./python-discovery.js";
import { BUBBLEWRAP_HINT } from "./sandbox.js";

const MIB = 1024 * 1024;
const LIMIT = 16 * MIB;

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

function describeFailure(result: ExecutionResult): string {
  return JSON.stringify({ outcome: result.outcome, error: result.error, notes: result.notes });
}

describe.skipIf(!runSandboxed)("the working-directory limit in the sandbox", () => {
  let directory: string;
  let executor: CodeExecutor;
  beforeAll(async () => {
    if (unavailable !== undefined) throw new Error(unavailable);
    directory = await mkdtemp(join(tmpdir(), "tw-limit-sandbox-"));
    executor = createLocalExecutor({
      workingDirectory: directory,
      python,
      maxWorkdirBytes: LIMIT,
      interruptGraceMs: 2_000,
      sandbox: { mode: "bwrap", tmpfsBytes: LIMIT },
    });
    await executor.start();
  }, 60_000);
  afterAll(async () => {
    await executor?.stop();
    await rm(directory, { recursive: true, force: true });
  });

  test(
    "writes to the private /tmp count, and /tmp itself cannot grow past the limit",
    { timeout: 60_000 },
    async () => {
      const filled = await executor.execute(
        [
          "import os, time",
          "os.makedirs('/tmp/fill', exist_ok=True)",
          "for index in range(400):",
          "    with open(f'/tmp/fill/part_{index}.bin', 'wb') as handle:",
          "        handle.write(b'x' * (1024 * 1024))",
          "    time.sleep(0.01)",
        ].join("\n"),
      );
      expect(filled.error?.name, describeFailure(filled)).toMatch(/^(WorkdirLimitExceeded|OSError)$/);
      expect(filled.outcome).toBe("error");
      const total = await executor.execute(
        "sum(os.path.getsize(os.path.join('/tmp/fill', name)) for name in os.listdir('/tmp/fill'))",
      );
      expect(Number(total.output), describeFailure(total)).toBeLessThanOrEqual(LIMIT);
      const next = await executor.execute("import shutil\nshutil.rmtree('/tmp/fill')\n1 + 1");
      expect(next.output, describeFailure(next)).toBe("2");
    },
  );

  test("a program the code started that keeps writing is stopped with it", { timeout: 60_000 }, async () => {
    const filled = await executor.execute(
      "!dd if=/dev/zero of=dd.bin bs=1M count=400 oflag=direct status=none",
    );
    expect(filled.outcome, describeFailure(filled)).toBe("error");
    expect(filled.error?.name).toBe("WorkdirLimitExceeded");
    const size = await executor.execute("import os\nos.path.getsize('dd.bin')");
    expect(Number(size.output), describeFailure(size)).toBeLessThanOrEqual(LIMIT * 2);
    const next = await executor.execute("os.remove('dd.bin')\n'ok'");
    expect(next.output, describeFailure(next)).toBe("'ok'");
  });
});
