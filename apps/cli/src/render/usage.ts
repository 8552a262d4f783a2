import { formatUsageSummary, type RoundUsage } from "@taskweaver/core";

/** The `/info` lines of a session's usage: the totals, then one line per model and role. */
export function describeUsageForInfo(total: RoundUsage, rounds: number): string[] {
  const lines = [`Usage:    ${rounds} round${rounds === 1 ? "" : "s"}: ${formatUsageSummary(total)}`];
  for (const line of total.lines) {
    const cost = line.costUsd === undefined ? "" : ` · $${line.costUsd.toFixed(4)}`;
    lines.push(
      `  ${line.role} (${line.model}): ${line.inputTokens.toLocaleString("en-US")} in / ` +
        `${line.outputTokens.toLocaleString("en-US")} out · ${line.modelCalls} call${line.modelCalls === 1 ? "" : "s"} ` +
        `${(line.modelTimeMs / 1000).toFixed(1)} s${cost}`,
    );
  }
  return lines;
}
