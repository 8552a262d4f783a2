import { describe, expect, it } from "vitest";
import type { EvalCase } from "./case-file.js";
import { buildReport, formatCsv, formatTable } from "./report.js";
import type { CaseOutcome } from "./run-case.js";
import { summarize } from "./scoring.js";

function evalCase(name: string): EvalCase {
  return {
    file: `/cases/${name}`,
    name,
    configVar: {},
    appDir: undefined,
    dependencies: [],
    dataFiles: [],
    preCommands: [],
    verbose: false,
    taskDescription: "t",
    scoringPoints: [],
  };
}

const outcomes: CaseOutcome[] = [
  {
    status: "scored",
    case: evalCase("calc/calc.yaml"),
    score: summarize([
      { scorePoint: "a", weight: 2, judgedBy: "model", isHit: true, reason: "" },
      { scorePoint: "b", weight: 1, judgedBy: "code", isHit: false, reason: "eval_code failed: AssertionError" },
    ]),
    conversation: { messages: [{ role: "system", content: "x" }, { role: "user", content: "hi" }], ending: "stopped", rounds: 1 },
    agentUsage: {
      inputTokens: 1200,
      outputTokens: 300,
      cachedInputTokens: 0,
      modelCalls: 3,
      modelTimeMs: 900,
      kernelTimeMs: 40,
      costUsd: 0.01,
      lines: [],
    },
    sessionId: "eval-calc-calc",
    durationMs: 5,
  },
  { status: "error", case: evalCase("odd, name.yaml"), error: "The app directory /x does not exist.", durationMs: 1 },
];

describe("reports", () => {
  it("writes the original's CSV columns, one row per scored case", () => {
    expect(formatCsv(outcomes)).toBe("case_file,score,normalized_score\ncalc/calc.yaml,2,0.6667\n");
  });

  it("prints a table with the score, the normalized score and a mark per point, and the cases that did not run", () => {
    const table = formatTable(outcomes);
    expect(table).toMatch(/calc\/calc\.yaml\s+2\/3\s+0\.67\s+\+-/);
    expect(table).toMatch(/odd, name\.yaml\s+error\s+-\s+The app directory \/x does not exist\./);
    expect(table).toContain("1 of 2 cases scored, mean normalized score 0.67.");
  });

  it("keeps every point's verdict and the conversation in the JSON report", () => {
    const report = buildReport(outcomes, { startedAt: "2026-01-01T00:00:00.000Z", durationMs: 6 });
    expect(report.summary).toEqual({ cases: 2, scored: 1, failed_to_run: 1, mean_normalized_score: 2 / 3 });
    expect(report.cases[0]).toMatchObject({
      case_file: "calc/calc.yaml",
      score: 2,
      max_score: 3,
      scoring_points: [{ judged_by: "model", is_hit: true }, { judged_by: "code", is_hit: false, reason: "eval_code failed: AssertionError" }],
      conversation: [{ from: "virtual_user", content: "hi" }],
      agent_usage: { input_tokens: 1200, output_tokens: 300, model_calls: 3, cost_usd: 0.01 },
    });
    expect(report.cases[1]).toMatchObject({ status: "error", error: "The app directory /x does not exist." });
  });
});
