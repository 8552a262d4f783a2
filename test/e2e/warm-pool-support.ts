import type { CodeExecutor, ExecutionResult } from "@taskweaver/core";
import { expect } from "vitest";

/**
 * A session's first cell on a kernel from a warm pool: prints the kernel's folder, reads a CSV
 * uploaded before the kernel started, writes `made-in-kernel.txt` and sums `sumExpression`.
 * Checks it ran and that no kernel start was on the way (far below the seconds a cold start takes).
 */
export async function runFirstPooledCell(
  executor: CodeExecutor,
  csvName: string,
  sumExpression: string,
): Promise<ExecutionResult> {
  const started = performance.now();
  const result = await executor.execute(
    `import os, pandas as pd\nprint(os.getcwd())\nframe = pd.read_csv(${JSON.stringify(csvName)})\n` +
      `open('made-in-kernel.txt', 'w').write('hello')\nint((${sumExpression}).sum())`,
  );
  const elapsedMs = performance.now() - started;
  expect(result.outcome, JSON.stringify(result.error)).toBe("ok");
  expect(elapsedMs).toBeLessThan(3_000);
  return result;
}
