import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type TextMapGetter,
} from "@opentelemetry/api";
import type { AppConfig } from "@taskweaver/core";
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";

const headerGetter: TextMapGetter<Headers> = {
  get: (headers, key) => headers.get(key) ?? undefined,
  keys: (headers) => [...headers.keys()],
};

/**
 * A SERVER span per request (`{method} {route}`, HTTP semantic conventions), the parent of
 * everything the request does, rounds included. A caller's W3C `traceparent` header makes it
 * a child of the caller's span, so one trace runs from the client through the round. Without
 * the SDK (tracing off) the span is a no-op.
 */
export function traceRequests(): MiddlewareHandler {
  const tracer = trace.getTracer("@taskweaver/api");
  return async (c, next) => {
    // Requests are entry points: only the caller's header decides the parent, never an ambient context.
    const parent = propagation.extract(ROOT_CONTEXT, c.req.raw.headers, headerGetter);
    const url = new URL(c.req.url);
    const span = tracer.startSpan(
      c.req.method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          "http.request.method": c.req.method,
          "url.path": url.pathname,
          "url.scheme": url.protocol.replace(/:$/, ""),
          "server.address": url.hostname,
        },
      },
      parent,
    );
    try {
      await context.with(trace.setSpan(parent, span), () => next());
    } finally {
      const route = routePath(c, -1);
      if (route && route !== "*" && !route.endsWith("/*")) {
        span.setAttribute("http.route", route);
        span.updateName(`${c.req.method} ${route}`);
      }
      const status = c.res.status;
      span.setAttribute("http.response.status_code", status);
      if (status >= 500) {
        span.setAttribute("error.type", String(status));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    }
  };
}

/**
 * Starts the OpenTelemetry SDK for the API when tracing is on (`tracing.enabled` or
 * `OTEL_EXPORTER_OTLP_ENDPOINT`); stop it after the server closed, to flush.
 */
export async function startApiTelemetry(config: AppConfig, env: Record<string, string | undefined>) {
  const { startTelemetry } = await import("@taskweaver/telemetry");
  return startTelemetry({ config, env, defaultServiceName: "taskweaver-api" });
}
