import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { context, propagation, trace } from "@opentelemetry/api";
import type { ExportResult } from "@opentelemetry/core";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";
import { ConfigError, loadConfig } from "@taskweaver/core";
import { afterEach, describe, expect, it } from "vitest";
import { startTelemetry, telemetrySettings } from "./start-telemetry.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function config(values: Record<string, unknown> = {}) {
  const appDir = mkdtempSync(join(tmpdir(), "tw-telemetry-"));
  directories.push(appDir);
  writeFileSync(join(appDir, "taskweaver_config.json"), JSON.stringify(values));
  return loadConfig({ appDir, env: {} });
}

/** Keeps every exported span, also after shutdown (the SDK's in-memory exporter forgets them). */
function collectingExporter(): SpanExporter & { spans: ReadableSpan[] } {
  const spans: ReadableSpan[] = [];
  return {
    spans,
    export(batch: ReadableSpan[], done: (result: ExportResult) => void) {
      spans.push(...batch);
      done({ code: 0 });
    },
    shutdown: async () => {},
  };
}

describe("telemetry settings", () => {
  it("is off by default, with the standard OTLP/HTTP endpoint and protobuf", () => {
    expect(telemetrySettings(config(), {}, "taskweaver")).toEqual({
      enabled: false,
      tracesUrl: "http://localhost:4318/v1/traces",
      metricsUrl: "http://localhost:4318/v1/metrics",
      protocol: "http/protobuf",
      serviceName: "taskweaver",
      sampler: { name: "parentbased_always_on", ratio: 1 },
    });
  });

  it("takes the tracing.* keys, and lets the OTEL_* variables win", () => {
    const fromConfig = config({
      "tracing.enabled": true,
      "tracing.endpoint": "http://collector:4318/",
      "tracing.protocol": "http/json",
      "tracing.service_name": "analysis",
    });
    expect(telemetrySettings(fromConfig, {}, "taskweaver")).toMatchObject({
      enabled: true,
      tracesUrl: "http://collector:4318/v1/traces",
      protocol: "http/json",
      serviceName: "analysis",
    });
    expect(
      telemetrySettings(
        fromConfig,
        {
          OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9999",
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://127.0.0.1:9998/traces",
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
          OTEL_SERVICE_NAME: "from-env",
        },
        "taskweaver",
      ),
    ).toMatchObject({
      tracesUrl: "http://127.0.0.1:9998/traces",
      metricsUrl: "http://127.0.0.1:9999/v1/metrics",
      protocol: "http/protobuf",
      serviceName: "from-env",
    });
  });

  it("turns on for an endpoint in the environment, off for OTEL_SDK_DISABLED, and refuses gRPC when on", () => {
    expect(telemetrySettings(config(), { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" }, "x").enabled).toBe(true);
    expect(
      telemetrySettings(config({ "tracing.enabled": true }), { OTEL_SDK_DISABLED: "true" }, "x").enabled,
    ).toBe(false);
    expect(() =>
      telemetrySettings(config({ "tracing.enabled": true }), { OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }, "x"),
    ).toThrow(ConfigError);
    // Variables a host sets for other programs do not stop an app that exports nothing.
    expect(
      telemetrySettings(config(), { OTEL_EXPORTER_OTLP_PROTOCOL: "grpc", OTEL_TRACES_SAMPLER: "jaeger_remote" }, "x"),
    ).toMatchObject({ enabled: false, protocol: "http/protobuf", sampler: { name: "parentbased_always_on" } });
  });

  it("samples after tracing.sample_ratio (parent-based), or after OTEL_TRACES_SAMPLER and its argument, which win", () => {
    const sampler = (values: Record<string, unknown>, env: Record<string, string> = {}) =>
      telemetrySettings(config({ "tracing.enabled": true, ...values }), env, "x").sampler;
    expect(sampler({ "tracing.sample_ratio": 0.25 })).toEqual({ name: "parentbased_traceidratio", ratio: 0.25 });
    expect(sampler({ "tracing.sample_ratio": 0 })).toEqual({ name: "parentbased_traceidratio", ratio: 0 });
    expect(sampler({ "tracing.sample_ratio": 0.25 }, { OTEL_TRACES_SAMPLER: "always_off" })).toEqual({ name: "always_off", ratio: 1 });
    expect(sampler({}, { OTEL_TRACES_SAMPLER: "TraceIdRatio", OTEL_TRACES_SAMPLER_ARG: "0.1" })).toEqual({ name: "traceidratio", ratio: 0.1 });
    // The specification's default argument is 1.0.
    expect(sampler({}, { OTEL_TRACES_SAMPLER: "parentbased_traceidratio" })).toEqual({ name: "parentbased_traceidratio", ratio: 1 });
    expect(() => sampler({}, { OTEL_TRACES_SAMPLER: "jaeger_remote" })).toThrow(/not supported: use one of always_on, .*parentbased_traceidratio/);
    expect(() => sampler({}, { OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "10%" })).toThrow(/not a ratio: give a number from 0 to 1/);
    expect(() => sampler({}, { OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "1.5" })).toThrow(ConfigError);
    expect(() => config({ "tracing.sample_ratio": 2 })).toThrow(/tracing\.sample_ratio/);
  });
});

describe("startTelemetry", () => {
  it("does nothing when off", async () => {
    const telemetry = await startTelemetry({ config: config(), env: {}, defaultServiceName: "taskweaver" });
    expect(telemetry.enabled).toBe(false);
    expect(trace.getTracer("test").startSpan("x").isRecording()).toBe(false);
    await telemetry.shutdown();
  });

  it("registers the SDK: spans nest across await, carry the service name, propagate W3C trace context and flush on shutdown", async () => {
    const exporter = collectingExporter();
    const telemetry = await startTelemetry({
      config: config({ "tracing.service_name": "tw-test" }),
      env: {},
      defaultServiceName: "taskweaver",
      spanExporter: exporter,
    });
    const tracer = trace.getTracer("test");
    const carrier: Record<string, string> = {};
    await tracer.startActiveSpan("outer", async (outer) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      tracer.startSpan("inner").end();
      propagation.inject(context.active(), carrier);
      outer.end();
    });
    await telemetry.shutdown();
    expect(exporter.spans.map((span) => span.name).sort()).toEqual(["inner", "outer"]);
    const outer = exporter.spans.find((span) => span.name === "outer")!;
    const inner = exporter.spans.find((span) => span.name === "inner")!;
    expect(inner.parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
    expect(outer.resource.attributes["service.name"]).toBe("tw-test");
    expect(carrier["traceparent"]).toBe(`00-${outer.spanContext().traceId}-${outer.spanContext().spanId}-01`);
    // Unregistered: a later start in the same process works, and spans are no-ops meanwhile.
    expect(trace.getTracer("test").startSpan("after").isRecording()).toBe(false);
  });

  it("records no new trace at ratio 0, yet follows a caller's sampled traceparent and the children of a recorded span", async () => {
    const exporter = collectingExporter();
    const telemetry = await startTelemetry({
      config: config({ "tracing.sample_ratio": 0 }),
      env: {},
      defaultServiceName: "taskweaver",
      spanExporter: exporter,
    });
    const tracer = trace.getTracer("test");
    const fresh = tracer.startSpan("fresh");
    expect(fresh.isRecording()).toBe(false);
    fresh.end();
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const sampled = propagation.extract(context.active(), { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    const unsampled = propagation.extract(context.active(), { traceparent: `00-${traceId}-00f067aa0ba902b8-00` });
    tracer.startSpan("not sampled by the caller", {}, unsampled).end();
    await context.with(sampled, () =>
      tracer.startActiveSpan("request", async (request) => {
        expect(request.isRecording()).toBe(true);
        await new Promise((resolve) => setTimeout(resolve, 1));
        tracer.startSpan("round").end();
        request.end();
      }),
    );
    await telemetry.shutdown();
    expect(exporter.spans.map((span) => span.name).sort()).toEqual(["request", "round"]);
    expect(exporter.spans.every((span) => span.spanContext().traceId === traceId)).toBe(true);
  });

  it("refuses an unknown sampler before it registers anything", async () => {
    await expect(
      startTelemetry({ config: config(), env: { OTEL_TRACES_SAMPLER: "xray" }, defaultServiceName: "x", spanExporter: collectingExporter() }),
    ).rejects.toThrow(ConfigError);
    expect(trace.getTracer("test").startSpan("after").isRecording()).toBe(false);
  });

  it("nests spans across await again after a stop and a new start, each trace starting afresh", async () => {
    for (const run of [1, 2, 3]) {
      const exporter = collectingExporter();
      const telemetry = await startTelemetry({ config: config(), env: {}, defaultServiceName: "taskweaver", spanExporter: exporter });
      expect(trace.getActiveSpan(), `run ${run} starts with no active span`).toBeUndefined();
      const tracer = trace.getTracer("test");
      await tracer.startActiveSpan(`outer ${run}`, async (outer) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        tracer.startSpan(`inner ${run}`).end();
        outer.end();
      });
      await telemetry.shutdown();
      const outer = exporter.spans.find((span) => span.name === `outer ${run}`)!;
      const inner = exporter.spans.find((span) => span.name === `inner ${run}`)!;
      expect(inner.parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
      expect(outer.parentSpanContext).toBeUndefined();
    }
  });
});
