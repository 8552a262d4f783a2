import { AbortedError, TaskWeaverError } from "../errors.js";
import type { TaskWeaverEvent } from "../events/types.js";
import type { IdGenerator } from "../memory/ids.js";
import type { CodeProblem } from "./code-verifier.js";
import type { RoleContext } from "./role.js";

/** What a human (or a policy of the library user) is asked before code runs. */
export interface ExecutionApprovalRequest {
  /** The code the model wrote, as it would run (without `code_interpreter.code_prefix`). */
  code: string;
  /** Problems code verification found; empty when verification is off or found none. */
  problems: readonly CodeProblem[];
  /** Alias of the role that wants to run the code, e.g. `CodeInterpreter`. */
  role: string;
  sessionId: string;
  roundId: string;
  /** Identifies this request in the `execution-approval-*` events. */
  approvalId: string;
  /** Aborted when the round stops or the wait times out; stop asking then. */
  signal: AbortSignal;
}

/** The answer: run the code, run an edited version of it, or do not run it. */
export type ExecutionApprovalDecision =
  | { decision: "approve"; code?: string }
  | { decision: "reject"; reason?: string };

/**
 * Decides whether code runs. The round waits for it before the code reaches the kernel (up to
 * `code_interpreter.confirmation_timeout` seconds, then the code is rejected as timed out).
 */
export type ApproveExecution = (
  request: ExecutionApprovalRequest,
) => ExecutionApprovalDecision | Promise<ExecutionApprovalDecision>;

/** What the role does with the code after asking. */
export type ApprovalOutcome =
  | { run: true; code: string; edited: boolean }
  /** `message` tells the model why nothing ran, as the result of its code. */
  | { run: false; message: string };

/** Asks for approval of one piece of code: emits the events and waits for the decision. */
export type RequestApproval = (request: {
  code: string;
  problems: readonly CodeProblem[];
  role: string;
  postId: string;
  signal: AbortSignal;
}) => Promise<ApprovalOutcome>;

/**
 * The context a session gives roles that run code. `requestApproval` is absent when the role
 * runs outside a session that supports approval; such a role must not run code that needs it.
 */
export interface ApprovalRoleContext extends RoleContext {
  requestApproval?: RequestApproval;
}

/** The reason given when code needs approval and nobody was given the means to answer. */
export const NO_APPROVER_REASON = "no one can approve code here (no approveExecution handler was given)";

/** What the model is told when its code did not run for want of approval. */
export function declineMessage(decision: "rejected" | "timed_out" | "no_approver", reason?: string): string {
  if (decision === "rejected") {
    return reason ? `The user declined to run this code. Their reason: ${reason}` : "The user declined to run this code.";
  }
  return `The code was not run: it needs approval, but ${reason ?? NO_APPROVER_REASON}.`;
}

export interface ApprovalRequesterOptions {
  emit: (event: TaskWeaverEvent) => void;
  sessionId: string;
  roundId: string;
  /** Absent: every request is rejected with `NO_APPROVER_REASON`. */
  approveExecution?: ApproveExecution;
  /** How long to wait for a decision before rejecting it as timed out. */
  timeoutMs: number;
  generateId: IdGenerator;
}

/**
 * Builds the session's `requestApproval` for one round: emits `execution-approval-request`,
 * waits for the decision (bounded by the timeout, cut short by the round's abort), emits
 * `execution-approval-result` and says whether and what to run. An abort throws
 * `AbortedError`; a handler that throws or answers nonsense fails the round, so no code runs
 * on a broken approval.
 */
export function createApprovalRequester(options: ApprovalRequesterOptions): RequestApproval {
  const ids = { sessionId: options.sessionId, roundId: options.roundId };
  return async (request) => {
    const approvalId = options.generateId("approval");
    options.emit({
      type: "execution-approval-request",
      ...ids,
      postId: request.postId,
      approvalId,
      code: request.code,
      problems: request.problems.map((problem) => ({ line: problem.line, message: problem.message })),
    });
    const result = (event: { decision: "approved" | "rejected" | "edited" | "timed_out"; reason?: string; code?: string }) =>
      options.emit({ type: "execution-approval-result", ...ids, postId: request.postId, approvalId, ...event });

    if (!options.approveExecution) {
      result({ decision: "rejected", reason: NO_APPROVER_REASON });
      return { run: false, message: declineMessage("no_approver") };
    }
    const decision = await waitForDecision(options.approveExecution, {
      code: request.code,
      problems: request.problems,
      role: request.role,
      ...ids,
      approvalId,
      signal: request.signal,
    }, options.timeoutMs);
    if (decision === "timed_out") {
      const reason = `no answer came within ${options.timeoutMs / 1000} s`;
      result({ decision: "timed_out", reason });
      return { run: false, message: declineMessage("timed_out", reason) };
    }
    if (decision.decision === "reject") {
      const reason = decision.reason?.trim() || undefined;
      result({ decision: "rejected", ...(reason ? { reason } : {}) });
      return { run: false, message: declineMessage("rejected", reason) };
    }
    if (decision.code !== undefined && decision.code !== request.code) {
      result({ decision: "edited", code: decision.code });
      return { run: true, code: decision.code, edited: true };
    }
    result({ decision: "approved" });
    return { run: true, code: request.code, edited: false };
  };
}

async function waitForDecision(
  approve: ApproveExecution,
  request: ExecutionApprovalRequest,
  timeoutMs: number,
): Promise<ExecutionApprovalDecision | "timed_out"> {
  const outer = request.signal;
  if (outer.aborted) throw new AbortedError("The round was stopped while waiting for approval.");
  const controller = new AbortController();
  let settle: ((value: ExecutionApprovalDecision | "timed_out" | AbortedError) => void) | undefined;
  const stopped = new Promise<"timed_out" | AbortedError>((resolve) => {
    settle = resolve as typeof settle;
  });
  const onAbort = () => {
    controller.abort();
    settle?.(new AbortedError("The round was stopped while waiting for approval."));
  };
  outer.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => {
    controller.abort();
    settle?.("timed_out");
  }, timeoutMs);
  try {
    const answered = Promise.resolve()
      .then(() => approve({ ...request, signal: controller.signal }))
      .then(checkDecision);
    const winner = await Promise.race([answered, stopped]);
    if (AbortedError.isInstance(winner)) throw winner;
    return winner;
  } finally {
    clearTimeout(timer);
    outer.removeEventListener("abort", onAbort);
  }
}

/** A decision from library code is checked once here, so the role only sees valid ones. */
function checkDecision(value: unknown): ExecutionApprovalDecision {
  if (typeof value === "object" && value !== null) {
    const record = value as Record<string, unknown>;
    if (record.decision === "approve" && (record.code === undefined || typeof record.code === "string")) {
      return record.code === undefined ? { decision: "approve" } : { decision: "approve", code: record.code as string };
    }
    if (record.decision === "reject" && (record.reason === undefined || typeof record.reason === "string")) {
      return record.reason === undefined ? { decision: "reject" } : { decision: "reject", reason: record.reason as string };
    }
  }
  throw new TaskWeaverError(
    "invalid_argument",
    `approveExecution must resolve {decision: "approve", code?} or {decision: "reject", reason?}, not ${JSON.stringify(value)}.`,
  );
}

/**
 * The first of the named plugins the code mentions as a whole word (not as an attribute such
 * as `df.name`). Deliberately loose: a mention in a string or comment asks once too often,
 * which is better than running unasked.
 */
export function callsPlugin(code: string, pluginNames: readonly string[]): string | undefined {
  return pluginNames.find((name) => new RegExp(`(?<![\\w.])${escapeRegExp(name)}\\b`).test(code));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
