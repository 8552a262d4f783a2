/** Percentile (nearest rank) of a list of numbers. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function formatMs(value: number): string {
  return `${value.toFixed(2)} ms`;
}

/** Headline figures per runtime, printed as one table at the end of `pnpm bench`. */
const figures = new Map<string, Map<string, string>>();

/** Records a headline figure, e.g. `recordFigure("docker", "1+1 p50 / p99", "13.0 / 93.0 ms")`. */
export function recordFigure(runtime: string, metric: string, value: string): void {
  let row = figures.get(runtime);
  if (row === undefined) figures.set(runtime, (row = new Map()));
  row.set(metric, value);
}

/** The recorded figures as a table (runtimes as rows), or undefined when none were recorded. */
export function formatFigures(): string | undefined {
  if (figures.size === 0) return undefined;
  const metrics = [...new Set([...figures.values()].flatMap((row) => [...row.keys()]))];
  const header = ["runtime", ...metrics];
  const rows = [...figures].map(([runtime, row]) => [runtime, ...metrics.map((metric) => row.get(metric) ?? "-")]);
  const widths = header.map((cell, index) => Math.max(cell.length, ...rows.map((row) => row[index]!.length)));
  const line = (cells: string[]) => cells.map((cell, index) => cell.padEnd(widths[index]!)).join(" | ");
  return [line(header), widths.map((width) => "-".repeat(width)).join("-|-"), ...rows.map(line)].join("\n");
}

/** `p50 / p99` of a list, for the summary table. */
export function p50p99(values: readonly number[]): string {
  return `${percentile(values, 50).toFixed(1)} / ${percentile(values, 99).toFixed(1)} ms`;
}

export function formatMebibytes(kilobytes: number): string {
  return `${(kilobytes / 1024).toFixed(1)} MiB`;
}
