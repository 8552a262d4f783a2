import type { Round } from "../memory/types.js";
import type { ModelCallReport } from "./usage-scope.js";

/** The calls of one model made by one role, summed. */
export interface UsageLine {
  model: string;
  /** The role whose reply made the calls, e.g. `Planner`. */
  role: string;
  inputTokens: number;
  outputTokens: number;
  /** Prompt tokens the server reported as cached (part of `inputTokens`). */
  cachedInputTokens: number;
  modelCalls: number;
  /** Wall time of the calls. */
  modelTimeMs: number;
  /** `undefined` when the model has no price in `llm.pricing`. */
  costUsd: number | undefined;
}

/**
 * What a round (or a whole session) used: tokens, model calls and their wall time, and the
 * kernel's execution time; by model and role in `lines`.
 */
export interface RoundUsage {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  modelCalls: number;
  modelTimeMs: number;
  /** Sum of the durations of the round's code executions. */
  kernelTimeMs: number;
  /** Sum of the priced lines; `undefined` when no model called has a price. */
  costUsd: number | undefined;
  lines: UsageLine[];
}

/** A model call with the role that made it. */
export interface RoleModelCall extends ModelCallReport {
  role: string;
}

/** Usage with nothing in it. */
export function emptyUsage(): RoundUsage {
  return { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, modelCalls: 0, modelTimeMs: 0, kernelTimeMs: 0, costUsd: undefined, lines: [] };
}

function addCost(left: number | undefined, right: number | undefined): number | undefined {
  if (left === undefined) return right;
  if (right === undefined) return left;
  return left + right;
}

function addLine(lines: UsageLine[], line: UsageLine): void {
  const same = lines.find((item) => item.model === line.model && item.role === line.role);
  if (!same) {
    lines.push({ ...line });
    return;
  }
  same.inputTokens += line.inputTokens;
  same.outputTokens += line.outputTokens;
  same.cachedInputTokens += line.cachedInputTokens;
  same.modelCalls += line.modelCalls;
  same.modelTimeMs += line.modelTimeMs;
  same.costUsd = addCost(same.costUsd, line.costUsd);
}

/** Kernel time of a round: the `duration_ms` its roles stored on execution results. */
export function kernelTimeOf(round: Round): number {
  let total = 0;
  for (const post of round.post_list) {
    for (const attachment of post.attachment_list) {
      if (attachment.type !== "execution_result") continue;
      const duration = (attachment.extra as { duration_ms?: unknown } | undefined)?.duration_ms;
      if (typeof duration === "number" && Number.isFinite(duration)) total += duration;
    }
  }
  return total;
}

/** Sums a round's model calls by model and role, with the kernel time of its executions. */
export function summarizeRoundUsage(calls: readonly RoleModelCall[], round: Round): RoundUsage {
  const usage = emptyUsage();
  usage.kernelTimeMs = kernelTimeOf(round);
  for (const call of calls) {
    addLine(usage.lines, {
      model: call.model,
      role: call.role,
      inputTokens: call.usage?.promptTokens ?? 0,
      outputTokens: call.usage?.completionTokens ?? 0,
      cachedInputTokens: call.usage?.cachedPromptTokens ?? 0,
      modelCalls: 1,
      modelTimeMs: call.durationMs,
      costUsd: call.costUsd,
    });
  }
  return withTotals(usage);
}

/** The sum of several usages (a session's rounds). */
export function addUsage(usages: readonly RoundUsage[]): RoundUsage {
  const sum = emptyUsage();
  for (const usage of usages) {
    sum.kernelTimeMs += usage.kernelTimeMs;
    for (const line of usage.lines) addLine(sum.lines, line);
  }
  return withTotals(sum);
}

function withTotals(usage: RoundUsage): RoundUsage {
  usage.inputTokens = 0;
  usage.outputTokens = 0;
  usage.cachedInputTokens = 0;
  usage.modelCalls = 0;
  usage.modelTimeMs = 0;
  usage.costUsd = undefined;
  for (const line of usage.lines) {
    usage.inputTokens += line.inputTokens;
    usage.outputTokens += line.outputTokens;
    usage.cachedInputTokens += line.cachedInputTokens;
    usage.modelCalls += line.modelCalls;
    usage.modelTimeMs += line.modelTimeMs;
    usage.costUsd = addCost(usage.costUsd, line.costUsd);
  }
  return usage;
}

/**
 * One line for people, e.g. `tokens 1,234 in / 210 out · 3 model calls 2.1 s · kernel 0.4 s · $0.0123`
 * (the cost only with a price table).
 */
export function formatUsageSummary(usage: RoundUsage): string {
  const count = (value: number) => value.toLocaleString("en-US");
  const seconds = (milliseconds: number) => `${(milliseconds / 1000).toFixed(1)} s`;
  const parts = [
    `tokens ${count(usage.inputTokens)} in / ${count(usage.outputTokens)} out`,
    `${usage.modelCalls} model call${usage.modelCalls === 1 ? "" : "s"} ${seconds(usage.modelTimeMs)}`,
    `kernel ${seconds(usage.kernelTimeMs)}`,
  ];
  if (usage.costUsd !== undefined) parts.push(`$${usage.costUsd.toFixed(4)}`);
  return parts.join(" · ");
}
