// Our own evaluation cases (project/eval/cases, on project/sample_data) replayed from their
// recordings through the real CLI and a real kernel: no model is called, the code really runs.
// After a prompt change, re-record with: pnpm exec tsx project/eval/record.ts
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { runCli, TEST_PYTHON } from "../src/index.js";

let output: string | undefined;
afterEach(() => {
  if (output) rmSync(output, { recursive: true, force: true });
  output = undefined;
});

it("replays project/eval's cases green, three at once, writing the table, the CSV and the JSON report", async () => {
  output = mkdtempSync(join(tmpdir(), "tw-eval-project-"));
  const run = await runCli(
    [
      "eval",
      "project/eval/cases",
      "--replay",
      "project/eval/recordings",
      "--concurrency",
      "3",
      "--config",
      `execution_service.python=${TEST_PYTHON}`,
      "--report",
      join(output, "report.json"),
      "--csv",
      join(output, "results.csv"),
    ],
    { timeoutMs: 180_000 },
  );
  expect(run.exitCode, `${run.stderr}\n(re-record with: pnpm exec tsx project/eval/record.ts)`).toBe(0);
  expect(run.stdout).toContain("3 of 3 cases scored, mean normalized score 1.00.");
  // Plain progress lines, as standard error is not a terminal here.
  expect(run.stderr).toMatch(/\[\d\/3\] units_file\.yaml: 3\/3 \(1\.00\)/);
  expect(readFileSync(join(output, "results.csv"), "utf8")).toBe(
    "case_file,score,normalized_score\nrow_count.yaml,3,1\ntop_region.yaml,3,1\nunits_file.yaml,3,1\n",
  );
  const report = JSON.parse(readFileSync(join(output, "report.json"), "utf8"));
  const units = report.cases.find((entry: { case_file: string }) => entry.case_file === "units_file.yaml");
  // The file the first round wrote was checked by eval_code in the kernel after the second round.
  expect(units.scoring_points[0]).toMatchObject({ judged_by: "code", is_hit: true, reason: "eval_code passed" });
  expect(units.rounds).toBe(2);
}, 240_000);
