import { AsyncLocalStorage } from "node:async_hooks";
import type { CallTokens } from "./pricing.js";

/** One finished model call as the built-in clients report it. */
export interface ModelCallReport {
  model: string;
  usage: CallTokens | undefined;
  durationMs: number;
  /** With a price for the model in `llm.pricing`. */
  costUsd: number | undefined;
}

export type ModelCallSink = (report: ModelCallReport) => void;

/*
 * Models are shared by every session of an app (and sessions of the API run at once), so a
 * call is attributed through the async context of the role reply that makes it, not through
 * the model object.
 */
const sinks = new AsyncLocalStorage<ModelCallSink>();

/** Runs `work` so that every model call made inside it is reported to `sink`. */
export function runWithModelCallSink<T>(sink: ModelCallSink, work: () => T): T {
  return sinks.run(sink, work);
}

/** Called by model clients when a call ends; a no-op outside `runWithModelCallSink`. */
export function reportModelCall(report: ModelCallReport): void {
  try {
    sinks.getStore()?.(report);
  } catch {
    // Accounting must never break a model call.
  }
}
