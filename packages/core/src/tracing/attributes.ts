/**
 * Names of the span attributes and events the core writes: the OpenTelemetry GenAI semantic
 * conventions (gen_ai.*, error.type, server.*) where they define one, `taskweaver.*` for what
 * only TaskWeaver has (rounds, kernels, code verification).
 */

export const GEN_AI = {
  operationName: "gen_ai.operation.name",
  providerName: "gen_ai.provider.name",
  agentName: "gen_ai.agent.name",
  agentDescription: "gen_ai.agent.description",
  conversationId: "gen_ai.conversation.id",
  requestModel: "gen_ai.request.model",
  requestStream: "gen_ai.request.stream",
  outputType: "gen_ai.output.type",
  responseModel: "gen_ai.response.model",
  responseId: "gen_ai.response.id",
  responseFinishReasons: "gen_ai.response.finish_reasons",
  timeToFirstChunk: "gen_ai.response.time_to_first_chunk",
  inputTokens: "gen_ai.usage.input_tokens",
  outputTokens: "gen_ai.usage.output_tokens",
  cacheReadInputTokens: "gen_ai.usage.cache_read.input_tokens",
  tokenType: "gen_ai.token.type",
  inputMessages: "gen_ai.input.messages",
  outputMessages: "gen_ai.output.messages",
  systemInstructions: "gen_ai.system_instructions",
  toolName: "gen_ai.tool.name",
  toolType: "gen_ai.tool.type",
  toolCallId: "gen_ai.tool.call.id",
  toolCallArguments: "gen_ai.tool.call.arguments",
  toolCallResult: "gen_ai.tool.call.result",
} as const;

export const ERROR_TYPE = "error.type";
export const SERVER_ADDRESS = "server.address";
export const SERVER_PORT = "server.port";
export const HTTP_STATUS = "http.response.status_code";

export const TASKWEAVER = {
  roundId: "taskweaver.round.id",
  roundState: "taskweaver.round.state",
  modelCalls: "taskweaver.usage.model_calls",
  costUsd: "taskweaver.usage.cost_usd",
  kernelTimeMs: "taskweaver.usage.kernel_time_ms",
  sendTo: "taskweaver.post.send_to",
  executorKind: "taskweaver.executor.kind",
  executionId: "taskweaver.execution.id",
  executionOutcome: "taskweaver.execution.outcome",
  executionSuccess: "taskweaver.execution.success",
  executionDurationMs: "taskweaver.execution.duration_ms",
  executionOutputChars: "taskweaver.execution.output_chars",
  executionArtifacts: "taskweaver.execution.artifacts",
  stateLost: "taskweaver.execution.state_lost",
  retryNumber: "taskweaver.retry.number",
  retryDelayMs: "taskweaver.retry.delay_ms",
  retryReason: "taskweaver.retry.reason",
  verificationResult: "taskweaver.verification.result",
  verificationProblems: "taskweaver.verification.problems",
} as const;

/** Span events of our own. */
export const EVENTS = {
  modelRetry: "taskweaver.model.retry",
  kernelInterrupt: "taskweaver.kernel.interrupt",
  kernelRestart: "taskweaver.kernel.restart",
  kernelDied: "taskweaver.kernel.died",
  verification: "taskweaver.code.verification",
} as const;

/** Instrumentation scope of everything the core records. */
export const INSTRUMENTATION_NAME = "@taskweaver/core";
