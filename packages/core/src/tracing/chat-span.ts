import { context, createContextKey, SpanKind, trace, type Attributes, type Span } from "@opentelemetry/api";
import { performance } from "node:perf_hooks";
import type {
  ChatMessage,
  ChatRequest,
  ChatStreamPart,
  ChatToolCall,
  LanguageModel,
  LlmRetryInfo,
} from "../llm/types.js";
import { ERROR_TYPE, EVENTS, GEN_AI, HTTP_STATUS, SERVER_ADDRESS, SERVER_PORT, TASKWEAVER } from "./attributes.js";
import { recordModelCallMetrics } from "./metrics.js";
import { contentAttribute, errorType, failSpan, recordsContent, startSpan } from "./spans.js";

/** `gen_ai.provider.name` of a model that does not say. */
const UNKNOWN_PROVIDER = "unknown";

/** The chat span a model client may add response details to (see `noteChatResponse`). */
const CHAT_SPAN = createContextKey("taskweaver.tracing.chat_span");

/**
 * Streams `model.streamChat(request)` inside a `chat {model}` span (CLIENT, as the GenAI
 * conventions define inference spans) and records the GenAI client metrics. Works for any
 * `LanguageModel`; the built-in clients add the response model and id through `noteChatResponse`.
 * Retries of the request are events on the span, so the span covers the logical call.
 */
export async function* traceChat(model: LanguageModel, request: ChatRequest): AsyncGenerator<ChatStreamPart> {
  const parent = context.active();
  const provider = model.provider;
  const attributes: Attributes = {
    [GEN_AI.operationName]: "chat",
    [GEN_AI.providerName]: provider?.name ?? UNKNOWN_PROVIDER,
    [GEN_AI.requestModel]: model.modelId,
  };
  if (provider?.serverAddress !== undefined) attributes[SERVER_ADDRESS] = provider.serverAddress;
  if (provider?.serverPort !== undefined) attributes[SERVER_PORT] = provider.serverPort;
  const startAttributes: Attributes =
    request.responseFormat === undefined
      ? attributes
      : { ...attributes, [GEN_AI.outputType]: request.responseFormat === "text" ? "text" : "json" };
  const span = startSpan(`chat ${model.modelId}`, startAttributes, SpanKind.CLIENT, parent);
  const recording = span.isRecording();
  const recordContent = recording && recordsContent(parent);
  if (recordContent) setInputContent(span, request.messages);
  const traced: ChatRequest = recording
    ? { ...request, onRetry: (info) => noteRetry(span, info, request.onRetry) }
    : request;
  const spanContext = trace.setSpan(parent, span).setValue(CHAT_SPAN, span);
  const started = performance.now();
  let firstChunkSeconds: number | undefined;
  let finish: Extract<ChatStreamPart, { type: "finish" }> | undefined;
  let text = "";
  const toolCalls: ChatToolCall[] = [];
  const iterator = context.with(spanContext, () => model.streamChat(traced)[Symbol.asyncIterator]());
  let failed = false;
  try {
    for (let first = true; ; first = false) {
      // The first step (the request, its retries and the answer's start) runs in the span's
      // context, so a client can add response details to it; later steps need not pay for it.
      const step = first ? await context.with(spanContext, () => iterator.next()) : await iterator.next();
      if (step.done) break;
      const part = step.value;
      firstChunkSeconds ??= (performance.now() - started) / 1000;
      if (part.type === "finish") finish = part;
      else if (recordContent && part.type === "text-delta") text += part.text;
      else if (recordContent && part.type === "tool-call") toolCalls.push(part.toolCall);
      yield part;
    }
  } catch (error) {
    failed = true;
    failSpan(span, error);
    recordModelCallMetrics(
      metricAttributes(attributes, span, errorType(error)),
      (performance.now() - started) / 1000,
      undefined,
    );
    throw error;
  } finally {
    // A consumer that stops early (an abort) leaves the generator here too.
    if (!failed) {
      const seconds = (performance.now() - started) / 1000;
      const usage = finish?.usage;
      if (recording) {
        // One call into the SDK for all of them: each call has its cost, whatever it carries.
        const outcome: Attributes = {};
        if (firstChunkSeconds !== undefined) outcome[GEN_AI.timeToFirstChunk] = firstChunkSeconds;
        if (finish) outcome[GEN_AI.responseFinishReasons] = [finish.finishReason];
        if (usage) {
          outcome[GEN_AI.inputTokens] = usage.promptTokens;
          outcome[GEN_AI.outputTokens] = usage.completionTokens;
          if (usage.cachedPromptTokens !== undefined) outcome[GEN_AI.cacheReadInputTokens] = usage.cachedPromptTokens;
        }
        if (recordContent)
          outcome[GEN_AI.outputMessages] = contentAttribute([outputMessage(text, toolCalls, finish?.finishReason)]);
        span.setAttributes(outcome);
      }
      recordModelCallMetrics(
        metricAttributes(attributes, span),
        seconds,
        usage ? { input: usage.promptTokens, output: usage.completionTokens } : undefined,
      );
    }
    span.end();
  }
}

/** Called by a model client inside `traceChat`: the model that answered and the answer's id. */
export function noteChatResponse(model: string | undefined, responseId: string | undefined): void {
  const span = context.active().getValue(CHAT_SPAN) as Span | undefined;
  if (!span?.isRecording()) return;
  if (model) span.setAttribute(GEN_AI.responseModel, model);
  if (responseId) span.setAttribute(GEN_AI.responseId, responseId);
  responseModels.set(span, model);
}

// The response model of each open chat span, for the metrics' attributes.
const responseModels = new WeakMap<Span, string | undefined>();

function metricAttributes(attributes: Attributes, span: Span, error?: string): Attributes {
  const responseModel = responseModels.get(span);
  if (!responseModel && error === undefined) return attributes;
  const result: Attributes = { ...attributes };
  if (responseModel) result[GEN_AI.responseModel] = responseModel;
  if (error !== undefined) result[ERROR_TYPE] = error;
  return result;
}

function noteRetry(span: Span, info: LlmRetryInfo, onRetry: ChatRequest["onRetry"]): void {
  span.addEvent(EVENTS.modelRetry, {
    [TASKWEAVER.retryNumber]: info.retry,
    [TASKWEAVER.retryDelayMs]: info.delayMs,
    [TASKWEAVER.retryReason]: info.reason,
    ...(info.status !== undefined ? { [HTTP_STATUS]: info.status } : {}),
  });
  onRetry?.(info);
}

/** The request's messages in the conventions' shape: system text apart, the chat as role + parts. */
function setInputContent(span: Span, messages: readonly ChatMessage[]): void {
  const instructions = messages
    .filter((message) => message.role === "system")
    .map((message) => ({ type: "text", content: message.content }));
  if (instructions.length > 0) span.setAttribute(GEN_AI.systemInstructions, contentAttribute(instructions));
  const chat = messages
    .filter((message) => message.role !== "system")
    .map((message) => {
      if (message.role === "tool") {
        return {
          role: "tool",
          parts: [{ type: "tool_call_response", id: message.toolCallId, result: message.content }],
        };
      }
      if (message.role === "assistant") {
        const parts: unknown[] = message.content !== "" ? [{ type: "text", content: message.content }] : [];
        for (const call of message.toolCalls ?? []) parts.push(toolCallPart(call));
        return { role: "assistant", parts };
      }
      const parts =
        typeof message.content === "string"
          ? [{ type: "text", content: message.content }]
          : message.content.map((part) =>
              part.type === "text"
                ? { type: "text", content: part.text }
                : { type: "uri", modality: "image", uri: part.image_url.url },
            );
      return { role: "user", parts };
    });
  span.setAttribute(GEN_AI.inputMessages, contentAttribute(chat));
}

function toolCallPart(call: ChatToolCall) {
  return { type: "tool_call", id: call.id, name: call.name, arguments: parseArguments(call.arguments) };
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function outputMessage(text: string, toolCalls: readonly ChatToolCall[], finishReason: string | undefined) {
  const parts: unknown[] = text !== "" ? [{ type: "text", content: text }] : [];
  for (const call of toolCalls) parts.push(toolCallPart(call));
  return { role: "assistant", parts, finish_reason: finishReason ?? "error" };
}
