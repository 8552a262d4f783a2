import { AsyncLocalStorage } from "node:async_hooks";
import { context, createContextKey, ROOT_CONTEXT } from "@opentelemetry/api";
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
 *
 * That context is the OpenTelemetry one when the app registered a context manager (tracing
 * on), and a storage of our own otherwise. On Node 20 every enabled AsyncLocalStorage is paid
 * for by every promise made anywhere in the process; a second one next to the context
 * manager's cost a planner round about 15% of its framework time.
 */
const SINK = createContextKey("taskweaver.usage.model_call_sink");
const PROBE = ROOT_CONTEXT.setValue(SINK, () => {});
const ownSinks = new AsyncLocalStorage<ModelCallSink>();
/** Scopes of `ownSinks` whose work has not settled yet. */
let ownScopes = 0;

/** Whether a context set with `context.with` is seen inside it: a context manager is registered. */
function contextManagerRegistered(): boolean {
  return context.with(PROBE, () => context.active() === PROBE);
}

function leaveOwnScope(): void {
  ownScopes -= 1;
}

/** Runs `work` so that every model call made inside it is reported to `sink`. */
export function runWithModelCallSink<T>(sink: ModelCallSink, work: () => T): T {
  if (contextManagerRegistered()) {
    // Stop paying for our own storage once nothing runs in it (the SDK came after rounds ran).
    if (ownScopes === 0) ownSinks.disable();
    return context.with(context.active().setValue(SINK, sink), work);
  }
  ownScopes += 1;
  let result: T;
  try {
    result = ownSinks.run(sink, work);
  } catch (error) {
    leaveOwnScope();
    throw error;
  }
  if (result instanceof Promise) result.then(leaveOwnScope, leaveOwnScope);
  else leaveOwnScope();
  return result;
}

/** Called by model clients when a call ends; a no-op outside `runWithModelCallSink`. */
export function reportModelCall(report: ModelCallReport): void {
  try {
    const sink = (context.active().getValue(SINK) as ModelCallSink | undefined) ?? ownSinks.getStore();
    sink?.(report);
  } catch {
    // Accounting must never break a model call.
  }
}
