import { AbortedError } from "../errors.js";
import type { ChatRequest, LanguageModel, LlmRetryInfo, TokenUsage } from "../llm/types.js";
import { JsonStreamParser, type FieldEvent } from "../parsing/json-stream.js";
import { traceChat } from "../tracing/chat-span.js";

/** The outcome of asking the model for one JSON answer. */
export interface ModelAnswer {
  /** Everything the model said, verbatim (kept for corrections and the record). */
  text: string;
  /** Complete fields of the answer object. */
  fields: Readonly<Record<string, unknown>>;
  /** Why the answer is not a complete JSON object, if it is not. */
  parseError: string | undefined;
  usage: TokenUsage | undefined;
}

/**
 * Streams a chat completion through the incremental JSON parser, handing field events to
 * `onField` as they arrive.
 */
export async function requestModelAnswer(
  model: LanguageModel,
  request: ChatRequest,
  onField: (event: FieldEvent) => void,
): Promise<ModelAnswer> {
  const parser = new JsonStreamParser();
  let text = "";
  let usage: TokenUsage | undefined;
  for await (const part of traceChat(model, request)) {
    if (request.signal?.aborted) throw new AbortedError();
    if (part.type === "text-delta") {
      text += part.text;
      for (const event of parser.push(part.text)) onField(event);
    } else if (part.type === "finish") {
      usage = part.usage;
    }
  }
  for (const event of parser.end()) onField(event);
  return { text, fields: parser.fields, parseError: parser.parseError, usage };
}

/** A field as text: strings as they are, other JSON values serialised. */
export function fieldText(fields: Readonly<Record<string, unknown>>, key: string): string | undefined {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** A retry of a model call as a post status, e.g. "the model is rate limited (HTTP 429); retrying in 2 s (retry 1)". */
export function describeModelRetry(info: LlmRetryInfo): string {
  const why =
    info.status === 429
      ? "the model is rate limited (HTTP 429)"
      : info.status !== undefined
        ? `the model call failed (HTTP ${info.status})`
        : `the model call failed (${info.reason})`;
  const seconds = info.delayMs / 1000;
  const wait = seconds < 1 ? `${Math.round(info.delayMs)} ms` : `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)} s`;
  return `${why}; retrying in ${wait} (retry ${info.retry})`;
}
