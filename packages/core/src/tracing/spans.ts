import {
  context,
  createContextKey,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type ProxyTracerProvider,
  type Span,
  type Tracer,
  type TracerProvider,
} from "@opentelemetry/api";
import { TaskWeaverError } from "../errors.js";
import { ERROR_TYPE, INSTRUMENTATION_NAME } from "./attributes.js";

/*
 * The core only talks to `@opentelemetry/api`: without an SDK registered by the application
 * every span is a no-op, so tracing costs next to nothing when it is off. The tracer is kept
 * only as long as the provider behind the API's proxy is the same: an app may stop its
 * provider and register another (the API server in tests, benchmarks), and a tracer got
 * through the proxy would stick to the first one.
 */
let kept: { provider: TracerProvider; tracer: Tracer } | undefined;

function tracer(): Tracer {
  const proxy = trace.getTracerProvider() as Partial<ProxyTracerProvider> & TracerProvider;
  if (typeof proxy.getDelegate !== "function") return proxy.getTracer(INSTRUMENTATION_NAME);
  const provider = proxy.getDelegate();
  if (kept?.provider !== provider) kept = { provider, tracer: provider.getTracer(INSTRUMENTATION_NAME) };
  return kept.tracer;
}

/** Whether prompts, answers, code and output go on spans (`tracing.record_content`). */
const RECORD_CONTENT = createContextKey("taskweaver.tracing.record_content");

/** Runs `work` with content recording on or off for every span started inside it. */
export function withContentRecording<T>(recordContent: boolean, work: () => T): T {
  return context.with(context.active().setValue(RECORD_CONTENT, recordContent), work);
}

/** True inside `withContentRecording(true, ...)`. */
export function recordsContent(parent: Context = context.active()): boolean {
  return parent.getValue(RECORD_CONTENT) === true;
}

/** A low-cardinality name for what went wrong: the TaskWeaver code, else the error's class. */
export function errorType(error: unknown): string {
  if (TaskWeaverError.isInstance(error)) return error.code;
  if (error instanceof Error && error.name !== "") return error.name;
  return "_OTHER";
}

/** Marks a span as failed, the way the semantic conventions record errors. */
export function failSpan(span: Span, error: unknown): void {
  if (!span.isRecording()) return;
  span.setAttribute(ERROR_TYPE, errorType(error));
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}

/** Starts a span as a child of the active one (not made active). */
export function startSpan(
  name: string,
  attributes: Attributes,
  kind: SpanKind = SpanKind.INTERNAL,
  parent = context.active(),
): Span {
  return tracer().startSpan(name, { kind, attributes }, parent);
}

/**
 * Runs `work` inside a new active span: spans started in it are its children. A throw marks the
 * span failed and is rethrown; `finish` may add attributes from the result before the span ends.
 */
export async function inSpan<T>(
  name: string,
  attributes: Attributes,
  work: (span: Span) => Promise<T>,
  finish?: (span: Span, result: T) => void,
): Promise<T> {
  const parent = context.active();
  const span = tracer().startSpan(name, { kind: SpanKind.INTERNAL, attributes }, parent);
  try {
    const result = await context.with(trace.setSpan(parent, span), () => work(span));
    if (finish && span.isRecording()) finish(span, result);
    return result;
  } catch (error) {
    failSpan(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Adds an event to the active span, if it records. */
export function addSpanEvent(name: string, attributes: Attributes): void {
  const span = trace.getActiveSpan();
  if (span?.isRecording()) span.addEvent(name, attributes);
}

/**
 * Structured content as a span attribute: span attributes hold no nested values yet, so the
 * conventions ask for a JSON string there.
 */
export function contentAttribute(value: unknown): string {
  return JSON.stringify(value);
}
