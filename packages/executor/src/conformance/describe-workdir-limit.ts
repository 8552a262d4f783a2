import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CodeExecutor, ExecutionResult } from "@taskweaver/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { ConformanceOptions } from "./conformance-options.js";

/** What the suite hands the runtime when it needs an executor with a small working-directory limit. */
export interface WorkdirLimitContext {
  /** A fresh host directory for the session (runtimes that cannot use it may ignore it). */
  workingDirectory: string;
  /** The executor must stop an execution that makes the working directory hold more than this. */
  maxWorkdirBytes: number;
  /** The executor must restart a kernel that ignores an interrupt after this many milliseconds. */
  interruptGraceMs: number;
}

const MIB = 1024 * 1024;
/** Small enough to write quickly on a shared machine, big enough to be above a kernel's own files. */
export const CONFORMANCE_WORKDIR_LIMIT = 16 * MIB;

function describeFailure(result: ExecutionResult): string {
  return JSON.stringify({
    outcome: result.outcome,
    error: result.error,
    notes: result.notes,
    stderr: result.stderr,
  });
}

/**
 * The working-directory limit (`execution_service.max_workdir_bytes`) as every runtime must
 * enforce it: an execution that writes past it is stopped with a message naming the setting,
 * the disk is not filled much past it, and the session goes on.
 */
export function describeWorkdirLimitConformance(
  name: string,
  createExecutor: (context: WorkdirLimitContext) => CodeExecutor | Promise<CodeExecutor>,
  options: ConformanceOptions = {},
): void {
  const timeout = options.testTimeoutMs ?? 120_000;
  if (options.unavailableReason !== undefined) {
    if (process.env.CI === "true") {
      describe(`${name} working-directory limit`, () => {
        test("the runtime is available (required under CI=true)", () => {
          throw new Error(`The ${name} runtime cannot run here: ${options.unavailableReason}`);
        });
      });
    } else {
      describe.skip(`${name} working-directory limit (unavailable: ${options.unavailableReason})`, () => {
        test("skipped", () => undefined);
      });
    }
    return;
  }

  let directory = "";
  let executor: CodeExecutor | undefined;
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), "tw-workdir-limit-"));
    executor = await createExecutor({
      workingDirectory: directory,
      maxWorkdirBytes: CONFORMANCE_WORKDIR_LIMIT,
      interruptGraceMs: 2_000,
    });
    await executor.start();
  }, timeout);
  afterAll(async () => {
    await executor?.stop();
    if (directory) await rm(directory, { recursive: true, force: true });
  }, 60_000);

  describe(`${name} working-directory limit`, () => {
    test(
      "stops an execution that fills the working directory, names the setting, and the session goes on",
      { timeout },
      async () => {
        const session = executor!;
        expect((await session.execute("kept_before_fill = 41")).isSuccess).toBe(true);
        // 1 MiB files, paced so that 400 of them (25x the limit) would take seconds: the stop
        // must come long before the loop ends. Sizes are read back by the kernel (remote).
        const filled = await session.execute(
          [
            "import os, time",
            "os.makedirs('fill', exist_ok=True)",
            "chunk = b'x' * (1024 * 1024)",
            "for index in range(400):",
            "    with open(f'fill/part_{index}.bin', 'wb') as handle:",
            "        handle.write(chunk)",
            "    time.sleep(0.01)",
          ].join("\n"),
        );
        expect(filled.outcome, describeFailure(filled)).toBe("error");
        expect(filled.isSuccess).toBe(false);
        expect(filled.error?.name, describeFailure(filled)).toBe("WorkdirLimitExceeded");
        expect(filled.notes.join("\n")).toContain("execution_service.max_workdir_bytes");
        expect(filled.notes.join("\n")).toContain("16 MiB");

        const written = await session.execute(
          "sum(os.path.getsize(os.path.join('fill', name)) for name in os.listdir('fill'))",
        );
        expect(written.isSuccess, describeFailure(written)).toBe(true);
        const bytes = Number(written.output);
        // Up to the limit (directories' own blocks count too, so the files may sum to just under it).
        expect(bytes).toBeGreaterThan(CONFORMANCE_WORKDIR_LIMIT - 2 * MIB);
        // Stopped within a few samples of the limit, far from the 400 MiB the loop would write.
        expect(bytes).toBeLessThan(120 * MIB);

        // The session goes on: the directory is still over the limit, but code that does not
        // write runs, keeps its variables, and may free space.
        const next = await session.execute("kept_before_fill + 1");
        expect(next.output, describeFailure(next)).toBe("42");
        const cleaned = await session.execute("import shutil\nshutil.rmtree('fill')\nlen(os.listdir('.'))");
        expect(cleaned.isSuccess, describeFailure(cleaned)).toBe(true);
        const small = await session.execute("open('small.txt', 'w').write('fine')");
        expect(small.outcome, describeFailure(small)).toBe("ok");
      },
    );

    test(
      "a single file larger than the limit fails at the limit and the kernel lives on",
      { timeout },
      async () => {
        const session = executor!;
        const huge = await session.execute(
          [
            "with open('huge.bin', 'wb') as handle:",
            `    for _ in range(${(CONFORMANCE_WORKDIR_LIMIT / MIB) * 8}):`,
            "        handle.write(b'y' * (1024 * 1024))",
          ].join("\n"),
        );
        expect(huge.outcome, describeFailure(huge)).toBe("error");
        expect(["WorkdirLimitExceeded", "OSError"]).toContain(huge.error?.name);
        const size = await session.execute("import os\nos.path.getsize('huge.bin')");
        expect(Number(size.output), describeFailure(size)).toBeLessThanOrEqual(CONFORMANCE_WORKDIR_LIMIT * 4);
        const removed = await session.execute("os.remove('huge.bin')\n'gone'");
        expect(removed.output, describeFailure(removed)).toBe("'gone'");
      },
    );
  });
}
