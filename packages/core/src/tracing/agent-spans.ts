import { SpanStatusCode, type Attributes, type Span } from "@opentelemetry/api";
import type { TaskWeaverError } from "../errors.js";
import type { ExecutionResult } from "../executor/contract.js";
import type { Post, Round } from "../memory/types.js";
import type { RoundUsage } from "../usage/round-usage.js";
import { ERROR_TYPE, EVENTS, GEN_AI, TASKWEAVER } from "./attributes.js";
import { addSpanEvent, contentAttribute, inSpan, recordsContent, withContentRecording } from "./spans.js";

/*
 * The spans of a round, after the GenAI agent conventions: the round is an `invoke_agent` span
 * of the role that receives the user's message; inside it each role reply is an `invoke_agent
 * {role}` span, the Planner's model call sits in a `plan Planner` span, and code runs in
 * `execute_tool python` spans. Model calls are `chat {model}` spans (chat-span.ts).
 */

function textMessage(role: string, content: string, finishReason?: string) {
  return {
    role,
    parts: [{ type: "text", content }],
    ...(finishReason !== undefined ? { finish_reason: finishReason } : {}),
  };
}

/** What the round span needs to know. */
export interface RoundSpanInfo {
  sessionId: string;
  entryRole: string;
  userQuery: string;
  /** `tracing.record_content`. */
  recordContent: boolean;
}

/** What the round left behind, read when it ends. */
export interface RoundOutcome {
  round: Round;
  usage: RoundUsage | undefined;
  error: TaskWeaverError | undefined;
}

/** Runs a round inside its `invoke_agent {entry role}` span. */
export function traceRound(
  info: RoundSpanInfo,
  work: () => Promise<Round>,
  outcome: (round: Round) => RoundOutcome,
): Promise<Round> {
  return withContentRecording(info.recordContent, () =>
    inSpan(
      `invoke_agent ${info.entryRole}`,
      {
        [GEN_AI.operationName]: "invoke_agent",
        [GEN_AI.agentName]: info.entryRole,
        [GEN_AI.conversationId]: info.sessionId,
        ...(info.recordContent
          ? { [GEN_AI.inputMessages]: contentAttribute([textMessage("user", info.userQuery)]) }
          : {}),
      },
      () => work(),
      (span, finished) => endRound(span, outcome(finished), info.recordContent),
    ),
  );
}

function endRound(span: Span, { round, usage, error }: RoundOutcome, recordContent: boolean): void {
  // One call for all of them: every call into the SDK has its cost, whatever it carries.
  const attributes: Attributes = { [TASKWEAVER.roundId]: round.id, [TASKWEAVER.roundState]: round.state };
  if (usage) {
    attributes[GEN_AI.inputTokens] = usage.inputTokens;
    attributes[GEN_AI.outputTokens] = usage.outputTokens;
    attributes[TASKWEAVER.modelCalls] = usage.modelCalls;
    attributes[TASKWEAVER.kernelTimeMs] = usage.kernelTimeMs;
    if (usage.cachedInputTokens > 0) attributes[GEN_AI.cacheReadInputTokens] = usage.cachedInputTokens;
    if (usage.costUsd !== undefined) attributes[TASKWEAVER.costUsd] = usage.costUsd;
  }
  span.setAttributes(attributes);
  if (round.state === "failed") {
    span.setAttribute(ERROR_TYPE, error?.code ?? "_OTHER");
    span.setStatus({ code: SpanStatusCode.ERROR, ...(error ? { message: error.message } : {}) });
    return;
  }
  const answer = round.post_list.at(-1);
  if (recordContent && answer)
    span.setAttribute(
      GEN_AI.outputMessages,
      contentAttribute([textMessage("assistant", answer.message, "stop")]),
    );
}

/** Runs one role reply inside its `invoke_agent {role}` span. */
export function traceRoleReply(
  role: { alias: string; description?: string },
  sessionId: string,
  incoming: Post,
  work: () => Promise<Post>,
): Promise<Post> {
  const recordContent = recordsContent();
  return inSpan(
    `invoke_agent ${role.alias}`,
    {
      [GEN_AI.operationName]: "invoke_agent",
      [GEN_AI.agentName]: role.alias,
      [GEN_AI.conversationId]: sessionId,
      ...(role.description ? { [GEN_AI.agentDescription]: role.description } : {}),
      ...(recordContent
        ? { [GEN_AI.inputMessages]: contentAttribute([textMessage("user", incoming.message)]) }
        : {}),
    },
    work,
    (span, post) => {
      span.setAttribute(TASKWEAVER.sendTo, post.send_to);
      if (recordContent)
        span.setAttribute(
          GEN_AI.outputMessages,
          contentAttribute([textMessage("assistant", post.message, "stop")]),
        );
    },
  );
}

/** The Planner's decision (its model call and the parse of the plan) inside a `plan {agent}` span. */
export function tracePlan<T>(agentName: string, work: () => Promise<T>): Promise<T> {
  return inSpan(`plan ${agentName}`, { [GEN_AI.operationName]: "plan", [GEN_AI.agentName]: agentName }, work);
}

/** What an `execute_tool` span says about the code and where it runs. */
export interface ExecutionSpanInfo {
  /** `python` for the CodeInterpreter's code, the plugin's name for a function call. */
  toolName: string;
  /** `extension` (runs on the agent's side) for code, `function` for plugin calls. */
  toolType: "extension" | "function";
  /** The executor's `info.kind`: local, container or remote. */
  executorKind: string;
  /** The code (or the call's arguments), recorded only with `tracing.record_content`. */
  code: string;
  toolCallId?: string;
}

/**
 * Runs code inside an `execute_tool {tool}` span: its outcome, duration and output size, with
 * what the runtime did to the kernel (interrupt on timeout or abort, restart, death) as events.
 */
export function traceExecution(
  info: ExecutionSpanInfo,
  work: () => Promise<ExecutionResult>,
): Promise<ExecutionResult> {
  const recordContent = recordsContent();
  return inSpan(
    `execute_tool ${info.toolName}`,
    {
      [GEN_AI.operationName]: "execute_tool",
      [GEN_AI.toolName]: info.toolName,
      [GEN_AI.toolType]: info.toolType,
      [TASKWEAVER.executorKind]: info.executorKind,
      ...(info.toolCallId !== undefined ? { [GEN_AI.toolCallId]: info.toolCallId } : {}),
      ...(recordContent ? { [GEN_AI.toolCallArguments]: info.code } : {}),
    },
    work,
    (span, result) => endExecution(span, result, recordContent),
  );
}

function endExecution(span: Span, result: ExecutionResult, recordContent: boolean): void {
  const outputChars =
    result.output.length +
    result.stdout.reduce((sum, text) => sum + text.length, 0) +
    result.stderr.reduce((sum, text) => sum + text.length, 0);
  span.setAttributes({
    [TASKWEAVER.executionId]: result.executionId,
    [TASKWEAVER.executionOutcome]: result.outcome,
    [TASKWEAVER.executionSuccess]: result.isSuccess,
    [TASKWEAVER.executionDurationMs]: result.durationMs,
    [TASKWEAVER.executionOutputChars]: outputChars,
    [TASKWEAVER.executionArtifacts]: result.artifacts.length,
    [TASKWEAVER.stateLost]: result.stateLost,
  });
  const notes: Attributes =
    result.notes.length > 0 ? { "taskweaver.execution.notes": result.notes.join("\n") } : {};
  if (result.outcome === "timeout" || result.outcome === "interrupted")
    span.addEvent(EVENTS.kernelInterrupt, { [TASKWEAVER.executionOutcome]: result.outcome, ...notes });
  if (result.outcome === "kernel-died") span.addEvent(EVENTS.kernelDied, notes);
  if (result.stateLost) span.addEvent(EVENTS.kernelRestart, notes);
  if (recordContent) span.setAttribute(GEN_AI.toolCallResult, contentAttribute(executionContent(result)));
  if (!result.isSuccess) {
    span.setAttribute(ERROR_TYPE, result.error?.name ?? result.outcome);
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: result.error ? `${result.error.name}: ${result.error.value}` : result.outcome,
    });
  }
}

function executionContent(result: ExecutionResult) {
  return {
    output: result.output,
    stdout: result.stdout.join(""),
    stderr: result.stderr.join(""),
    ...(result.error ? { error: `${result.error.name}: ${result.error.value}` } : {}),
  };
}

/** Starts (and prepares) a session's kernel inside a `taskweaver.kernel.start` span. */
export function traceKernelStart<T>(
  sessionId: string,
  executorKind: string,
  work: () => Promise<T>,
): Promise<T> {
  return inSpan(
    "taskweaver.kernel.start",
    { [GEN_AI.conversationId]: sessionId, [TASKWEAVER.executorKind]: executorKind },
    work,
  );
}

/** Code verification's verdict, as an event on the reply's span. */
export function noteVerification(result: "CORRECT" | "INCORRECT", problems: number): void {
  addSpanEvent(EVENTS.verification, {
    [TASKWEAVER.verificationResult]: result,
    [TASKWEAVER.verificationProblems]: problems,
  });
}
