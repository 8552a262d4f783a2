import type { CodeExecutor, ExecutionResult } from "@taskweaver/core";
import { expect } from "vitest";

/**
 * A session's first cell on a kernel from a warm pool: prints the kernel's folder, reads a CSV
 * uploaded before the kernel started, writes `made-in-kernel.txt` and sums `sumExpression`.
 * Checks it ran. That no kernel start was on the way is shown by the callers, which check that
 * the executor runs on the pooled kernel's own id; how fast that is, `pnpm bench warm-pool`
 * measures (a wall-clock bound here failed on a loaded machine, with the pooled kernel taken).
 */
export async function runFirstPooledCell(
  executor: CodeExecutor,
  csvName: string,
  sumExpression: string,
): Promise<ExecutionResult> {
  const result = await executor.execute(
    `import os, pandas as pd\nprint(os.getcwd())\nframe = pd.read_csv(${JSON.stringify(csvName)})\n` +
      `open('made-in-kernel.txt', 'w').write('hello')\nint((${sumExpression}).sum())`,
  );
  expect(result.outcome, JSON.stringify(result.error)).toBe("ok");
  return result;
}
