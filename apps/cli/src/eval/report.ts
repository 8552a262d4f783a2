import type { CaseOutcome } from "./run-case.js";

/** A number as reports show it: at most 4 decimals, no trailing zeros. */
function formatNumber(value: number): string {
  return String(Math.round(value * 10_000) / 10_000);
}

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The CSV of the original's batch mode: `case_file,score,normalized_score`, one row per scored case. */
export function formatCsv(outcomes: readonly CaseOutcome[]): string {
  const rows = outcomes.flatMap((outcome) =>
    outcome.status === "scored"
      ? [[outcome.case.name, formatNumber(outcome.score.score), formatNumber(outcome.score.normalizedScore)]]
      : [],
  );
  return [["case_file", "score", "normalized_score"], ...rows].map((row) => row.map(csvField).join(",")).join("\n") + "\n";
}

/** The JSON report: every case with its points, reasons and conversation, and the totals. */
export function buildReport(outcomes: readonly CaseOutcome[], meta: { startedAt: string; durationMs: number; recording?: { mode: string; dir: string } }) {
  const scored = outcomes.filter((outcome) => outcome.status === "scored");
  return {
    started_at: meta.startedAt,
    duration_ms: meta.durationMs,
    ...(meta.recording ? { recording: meta.recording } : {}),
    summary: {
      cases: outcomes.length,
      scored: scored.length,
      failed_to_run: outcomes.length - scored.length,
      mean_normalized_score:
        scored.length > 0 ? scored.reduce((sum, outcome) => sum + outcome.score.normalizedScore, 0) / scored.length : null,
    },
    cases: outcomes.map((outcome) =>
      outcome.status === "scored"
        ? {
            case_file: outcome.case.name,
            path: outcome.case.file,
            status: outcome.status,
            score: outcome.score.score,
            max_score: outcome.score.maxScore,
            normalized_score: outcome.score.normalizedScore,
            session_id: outcome.sessionId,
            ending: outcome.conversation.ending,
            rounds: outcome.conversation.rounds,
            duration_ms: outcome.durationMs,
            agent_usage: {
              input_tokens: outcome.agentUsage.inputTokens,
              output_tokens: outcome.agentUsage.outputTokens,
              model_calls: outcome.agentUsage.modelCalls,
              model_time_ms: outcome.agentUsage.modelTimeMs,
              kernel_time_ms: outcome.agentUsage.kernelTimeMs,
              ...(outcome.agentUsage.costUsd !== undefined ? { cost_usd: outcome.agentUsage.costUsd } : {}),
            },
            scoring_points: outcome.score.points.map((point) => ({
              score_point: point.scorePoint,
              weight: point.weight,
              judged_by: point.judgedBy,
              is_hit: point.isHit,
              reason: point.reason,
            })),
            conversation: outcome.conversation.messages
              .filter((message) => message.role !== "system")
              .map((message) => ({ from: message.role === "agent" ? "agent" : "virtual_user", content: message.content })),
          }
        : {
            case_file: outcome.case.name,
            path: outcome.case.file,
            status: outcome.status,
            error: outcome.error,
            duration_ms: outcome.durationMs,
          },
    ),
  };
}

/** The table printed at the end: one line per case, hits per point, the mean. */
export function formatTable(outcomes: readonly CaseOutcome[]): string {
  const rows = outcomes.map((outcome) =>
    outcome.status === "scored"
      ? [
          outcome.case.name,
          `${formatNumber(outcome.score.score)}/${formatNumber(outcome.score.maxScore)}`,
          outcome.score.normalizedScore.toFixed(2),
          outcome.score.points.map((point) => (point.isHit ? "+" : "-")).join(""),
        ]
      : [outcome.case.name, "error", "-", outcome.error.split("\n")[0]!.slice(0, 80)],
  );
  const header = ["case", "score", "normalized", "points"];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd();
  const scored = outcomes.filter((outcome) => outcome.status === "scored");
  const mean =
    scored.length > 0 ? scored.reduce((sum, outcome) => sum + outcome.score.normalizedScore, 0) / scored.length : undefined;
  return [
    line(header),
    line(widths.map((width) => "-".repeat(width))),
    ...rows.map(line),
    "",
    `${scored.length} of ${outcomes.length} case${outcomes.length === 1 ? "" : "s"} scored` +
      (mean !== undefined ? `, mean normalized score ${mean.toFixed(2)}` : "") +
      ".",
    "",
  ].join("\n");
}

/** One line per scoring point, for the detail under the table. */
export function formatPointLines(outcome: CaseOutcome): string[] {
  if (outcome.status !== "scored") return [`${outcome.case.name}: could not run: ${outcome.error}`];
  return outcome.score.points.map(
    (point) =>
      `${outcome.case.name}: [${point.isHit ? "hit" : "miss"}] (${formatNumber(point.weight)}, ${point.judgedBy}) ${point.scorePoint.trim().split("\n")[0]}` +
      (point.isHit ? "" : ` -- ${point.reason.split("\n")[0]}`),
  );
}
