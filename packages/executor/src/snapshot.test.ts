import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import type { CodeExecutor } from "@taskweaver/core";
import { createLocalExecutor } from "./local/local-executor.js";
import { probeBubblewrap } from "./local/sandbox.js";
import { findPythonWithIpykernelSync } from "./local/python-discovery.js";

let python: string | undefined;
let unavailableReason: string | undefined;
try {
  python = findPythonWithIpykernelSync({ configured: process.env.TASKWEAVER_TEST_PYTHON });
} catch (error) {
  unavailableReason = (error as Error).message;
}
const skip = unavailableReason !== undefined && process.env.CI !== "true";
// Sandboxed where bubblewrap works, as local kernels run by default: the snapshot then has to
// pass through the working directory, the one host folder the sandbox shares.
const sandboxed = (await probeBubblewrap()) === undefined;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startExecutor(workingDirectory: string): Promise<CodeExecutor> {
  const executor = createLocalExecutor({
    workingDirectory,
    python,
    sandbox: { mode: sandboxed ? "bwrap" : "none" },
  });
  cleanups.push(() => executor.stop());
  await executor.start();
  return executor;
}

async function run(executor: CodeExecutor, code: string): Promise<string> {
  const result = await executor.execute(code);
  expect(result.error?.value ?? "", result.stderr.join("")).toBe("");
  return result.output;
}

describe.skipIf(skip)("kernel snapshots on a local kernel", () => {
  test(
    "a data frame, a function, an alias and a class survive into a new kernel; a generator and an open file are named as lost",
    { timeout: 60_000 },
    async () => {
      const workingDirectory = await mkdtemp(join(tmpdir(), "tw-snapshot-"));
      cleanups.push(() => rm(workingDirectory, { recursive: true, force: true }));
      const first = await startExecutor(workingDirectory);
      if (sandboxed) expect(first.info.details.sandbox).toBe("bwrap");
      await run(
        first,
        [
          "import pandas as pd",
          "import numpy",
          "df = pd.DataFrame({'a': [1, 2, 3]})",
          "def add_rows(frame, extra):",
          "    return len(frame) + extra",
          "class Box:",
          "    def __init__(self, value): self.value = value",
          "box = Box(41)",
          "numbers = (x for x in range(3))",
          "handle = open('notes.txt', 'w')",
          "_private = 1",
        ].join("\n"),
      );
      const snapshot = await first.saveSnapshot!({ maxBytes: 10_000_000 });
      expect(snapshot).toBeDefined();
      expect(snapshot!.serializer).toBe("dill");
      expect(snapshot!.saved.map((item) => item.name)).toEqual(["df", "add_rows", "Box", "box"]);
      expect(snapshot!.modules).toEqual([
        { name: "pd", module: "pandas" },
        { name: "numpy", module: "numpy" },
      ]);
      expect(snapshot!.lost.map((item) => item.name)).toEqual(["numbers", "handle"]);
      expect(snapshot!.lost[0]!.reason).toContain("generator");
      // The transfer files are gone from the working directory.
      expect(
        (await readdir(workingDirectory)).filter((name) => name.startsWith("taskweaver-snapshot")),
      ).toEqual([]);
      await first.stop();

      const second = await startExecutor(workingDirectory);
      const restored = await second.restoreSnapshot!(snapshot!.payload);
      expect(restored.error).toBeUndefined();
      expect(restored.restored.map((item) => item.name)).toEqual(["df", "add_rows", "Box", "box"]);
      expect(restored.lost.map((item) => item.name)).toEqual(["numbers", "handle"]);
      expect(await run(second, "add_rows(df, box.value + 1), type(pd.DataFrame()).__name__")).toBe(
        "(45, 'DataFrame')",
      );
      expect(
        (await readdir(workingDirectory)).filter((name) => name.startsWith("taskweaver-snapshot")),
      ).toEqual([]);
    },
  );

  test(
    "values past the size cap are refused by name, in definition order, and smaller later ones still fit",
    { timeout: 60_000 },
    async () => {
      const workingDirectory = await mkdtemp(join(tmpdir(), "tw-snapshot-"));
      cleanups.push(() => rm(workingDirectory, { recursive: true, force: true }));
      const executor = await startExecutor(workingDirectory);
      await run(executor, "small = 'x' * 1000\nbig = b'y' * 200000\nlater = [1, 2, 3]");
      const snapshot = await executor.saveSnapshot!({ maxBytes: 50_000 });
      expect(snapshot!.saved.map((item) => item.name)).toEqual(["small", "later"]);
      expect(snapshot!.lost).toEqual([
        { name: "big", reason: expect.stringContaining("execution_service.snapshot_max_bytes") as string },
      ]);
      expect(snapshot!.payload.byteLength).toBeLessThan(50_000);
    },
  );

  test(
    "a damaged payload is reported and leaves the kernel clean and working",
    { timeout: 60_000 },
    async () => {
      const workingDirectory = await mkdtemp(join(tmpdir(), "tw-snapshot-"));
      cleanups.push(() => rm(workingDirectory, { recursive: true, force: true }));
      const executor = await startExecutor(workingDirectory);
      const restored = await executor.restoreSnapshot!(new TextEncoder().encode("not a pickle at all"));
      expect(restored.error).toContain("could not be read");
      expect(restored.restored).toEqual([]);
      expect(await run(executor, "1 + 1")).toBe("2");
    },
  );

  test(
    "without dill the values are saved with pickle and functions defined in the session are named as not saved",
    { timeout: 60_000 },
    async () => {
      const workingDirectory = await mkdtemp(join(tmpdir(), "tw-snapshot-"));
      cleanups.push(() => rm(workingDirectory, { recursive: true, force: true }));
      const executor = await startExecutor(workingDirectory);
      // A None entry in sys.modules makes `import dill` fail, as in a kernel without it.
      await run(
        executor,
        "import sys\nsys.modules['dill'] = None\nrows = [1, 2]\ndef twice(x):\n    return 2 * x",
      );
      const snapshot = await executor.saveSnapshot!({ maxBytes: 1_000_000 });
      expect(snapshot!.serializer).toBe("pickle");
      expect(snapshot!.saved.map((item) => item.name)).toEqual(["rows"]);
      expect(snapshot!.modules).toEqual([{ name: "sys", module: "sys" }]);
      expect(snapshot!.lost).toEqual([{ name: "twice", reason: "functions not saved: dill not installed" }]);
      const restored = await executor.restoreSnapshot!(snapshot!.payload);
      expect(restored.restored).toEqual([{ name: "rows", type: "list" }]);
    },
  );

  test(
    "a module the new kernel lacks, and a value of its class, are named as not restored while the rest comes back",
    { timeout: 60_000 },
    async () => {
      const workingDirectory = await mkdtemp(join(tmpdir(), "tw-snapshot-"));
      cleanups.push(() => rm(workingDirectory, { recursive: true, force: true }));
      await writeFile(
        join(workingDirectory, "shapes.py"),
        "class Square:\n    def __init__(self, side): self.side = side\n",
      );
      const first = await startExecutor(workingDirectory);
      await run(first, "import shapes as sh\nsquare = sh.Square(3)\nsides = [3, 4]");
      const snapshot = await first.saveSnapshot!({ maxBytes: 1_000_000 });
      await first.stop();
      await rm(join(workingDirectory, "shapes.py"));

      const second = await startExecutor(workingDirectory);
      const restored = await second.restoreSnapshot!(snapshot!.payload);
      expect(restored.error).toBeUndefined();
      expect(restored.restored).toEqual([{ name: "sides", type: "list" }]);
      expect(restored.lost.map((item) => item.name)).toEqual(["sh", "square"]);
      expect(restored.lost[0]!.reason).toMatch(/^import shapes failed \(ModuleNotFoundError/);
      expect(restored.lost[1]!.reason).toMatch(/^could not be unpickled \(ModuleNotFoundError/);
      expect(await run(second, "sides")).toBe("[3, 4]");
    },
  );

  test("with no kernel running there is nothing to save", async () => {
    const workingDirectory = await mkdtemp(join(tmpdir(), "tw-snapshot-"));
    cleanups.push(() => rm(workingDirectory, { recursive: true, force: true }));
    const executor = createLocalExecutor({ workingDirectory, python });
    cleanups.push(() => executor.stop());
    expect(await executor.saveSnapshot!({ maxBytes: 1000 })).toBeUndefined();
  });
});
