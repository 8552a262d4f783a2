import { context, metrics, propagation, trace } from "@opentelemetry/api";
import type { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { ConfigError, type AppConfig } from "@taskweaver/core";
import type { MetricReader } from "@opentelemetry/sdk-metrics";
import type * as SdkTraceModule from "@opentelemetry/sdk-trace-base";
import type { SpanExporter } from "@opentelemetry/sdk-trace-base";

/** The OTLP/HTTP encodings we export in (`OTEL_EXPORTER_OTLP_PROTOCOL`). */
export type OtlpProtocol = "http/protobuf" | "http/json";

/** The samplers of the OpenTelemetry specification that `OTEL_TRACES_SAMPLER` may name here. */
const SAMPLER_NAMES = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;
export type SamplerName = (typeof SAMPLER_NAMES)[number];

/** Which traces are recorded: a sampler of the specification, with its ratio for the `traceidratio` ones. */
export interface SamplerSettings {
  name: SamplerName;
  /** From 0 to 1; used by `traceidratio` and `parentbased_traceidratio` only. */
  ratio: number;
}

/** Where and how telemetry goes, from the `tracing.*` config keys and the standard OTEL_* variables. */
export interface TelemetrySettings {
  enabled: boolean;
  /** Full URL of the trace receiver, e.g. `http://localhost:4318/v1/traces`. */
  tracesUrl: string;
  /** Full URL of the metric receiver, e.g. `http://localhost:4318/v1/metrics`. */
  metricsUrl: string;
  protocol: OtlpProtocol;
  serviceName: string;
  sampler: SamplerSettings;
}

/** Options of {@link startTelemetry}. */
export interface TelemetryOptions {
  /** The app's config, read for `tracing.*`. */
  config: AppConfig;
  /** Read for `OTEL_SDK_DISABLED`, `OTEL_EXPORTER_OTLP_*`, `OTEL_SERVICE_NAME` and `OTEL_TRACES_SAMPLER*`. @default process.env */
  env?: Record<string, string | undefined>;
  /** `service.name` when neither `OTEL_SERVICE_NAME` nor `tracing.service_name` says. */
  defaultServiceName: string;
  /** Export spans here instead of OTLP (tests, benchmarks); turns telemetry on. @default OTLP/HTTP */
  spanExporter?: SpanExporter;
  /** Read metrics with this instead of exporting them over OTLP. @default periodic OTLP/HTTP export */
  metricReader?: MetricReader;
  /** Interval of the metric export. @default 60000 */
  metricExportIntervalMs?: number;
}

/** Telemetry once started: stop it to flush what is buffered. */
export interface Telemetry {
  readonly enabled: boolean;
  readonly settings: TelemetrySettings;
  /** Exports what is buffered, stops the providers and unregisters them; idempotent. */
  shutdown(): Promise<void>;
}

const DEFAULT_ENDPOINT = "http://localhost:4318";

/*
 * One context manager for the process, registered again by every start. Each AsyncLocalStorage
 * puts a property of its own on every promise made while it is enabled, so a new one per start
 * (tests and benchmarks restart telemetry) would multiply the shapes of promises V8 sees and
 * slow down every await of the process a little more each time.
 */
let processContextManager: AsyncLocalStorageContextManager | undefined;

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== "" ? value.trim() : undefined;
}

/** A signal's URL: its own variable as given, else the base endpoint with the signal's path. */
function signalUrl(specific: string | undefined, base: string, path: string): string {
  return specific ?? `${base.replace(/\/+$/, "")}${path}`;
}

/**
 * Reads the settings without loading the SDK. The OTEL_* variables win over the config, as
 * the OpenTelemetry specification asks; an endpoint in the environment turns export on. A
 * protocol or sampler we do not have is a `ConfigError` only when telemetry is on: OTEL_*
 * variables set on a host for other programs must not stop an app that exports nothing.
 */
export function telemetrySettings(
  config: AppConfig,
  env: Record<string, string | undefined>,
  defaultServiceName: string,
): TelemetrySettings {
  return readSettings(config, env, defaultServiceName, false);
}

/** `telemetrySettings`, checked and complete also when a caller's exporter turns telemetry on. */
function readSettings(
  config: AppConfig,
  env: Record<string, string | undefined>,
  defaultServiceName: string,
  turnedOn: boolean,
): TelemetrySettings {
  const endpointFromEnv = nonEmpty(env["OTEL_EXPORTER_OTLP_ENDPOINT"]);
  const tracesFromEnv = nonEmpty(env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]);
  const metricsFromEnv = nonEmpty(env["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"]);
  const disabled = nonEmpty(env["OTEL_SDK_DISABLED"])?.toLowerCase() === "true";
  const enabled =
    !disabled &&
    (config.get("tracing.enabled") || endpointFromEnv !== undefined || tracesFromEnv !== undefined);
  const base = endpointFromEnv ?? nonEmpty(config.get("tracing.endpoint")) ?? DEFAULT_ENDPOINT;
  const protocol = nonEmpty(env["OTEL_EXPORTER_OTLP_PROTOCOL"]) ?? config.get("tracing.protocol");
  const exports = enabled || turnedOn;
  const supported = protocol === "http/protobuf" || protocol === "http/json";
  if (!supported && exports) {
    throw new ConfigError(
      `OTLP protocol "${protocol}" is not supported: use http/protobuf or http/json (OTEL_EXPORTER_OTLP_PROTOCOL or tracing.protocol).`,
    );
  }
  return {
    enabled,
    tracesUrl: signalUrl(tracesFromEnv, base, "/v1/traces"),
    metricsUrl: signalUrl(metricsFromEnv, base, "/v1/metrics"),
    protocol: supported ? protocol : "http/protobuf",
    serviceName: nonEmpty(env["OTEL_SERVICE_NAME"]) ?? nonEmpty(config.get("tracing.service_name")) ?? defaultServiceName,
    sampler: exports ? samplerSettings(config, env) : DEFAULT_SAMPLER,
  };
}

/** What records every trace a caller did not sample out. */
const DEFAULT_SAMPLER: SamplerSettings = { name: "parentbased_always_on", ratio: 1 };

/**
 * `OTEL_TRACES_SAMPLER` (with `OTEL_TRACES_SAMPLER_ARG`) as the specification defines them, else
 * `tracing.sample_ratio` as a parent-based ratio. A sampler we do not have is a `ConfigError`,
 * not a silent fallback: the operator asked for less (or more) than they would get.
 */
function samplerSettings(config: AppConfig, env: Record<string, string | undefined>): SamplerSettings {
  const configured = config.get("tracing.sample_ratio");
  const fromEnv = nonEmpty(env["OTEL_TRACES_SAMPLER"])?.toLowerCase();
  if (fromEnv === undefined) {
    return configured >= 1 ? DEFAULT_SAMPLER : { name: "parentbased_traceidratio", ratio: configured };
  }
  if (!(SAMPLER_NAMES as readonly string[]).includes(fromEnv)) {
    throw new ConfigError(
      `OTEL_TRACES_SAMPLER "${fromEnv}" is not supported: use one of ${SAMPLER_NAMES.join(", ")} (or unset it and set tracing.sample_ratio).`,
    );
  }
  const name = fromEnv as SamplerName;
  const argument = nonEmpty(env["OTEL_TRACES_SAMPLER_ARG"]);
  if (!name.endsWith("traceidratio") || argument === undefined) return { name, ratio: 1 };
  const ratio = Number(argument);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    throw new ConfigError(`OTEL_TRACES_SAMPLER_ARG "${argument}" is not a ratio: give a number from 0 to 1 (0.1 records one trace in ten).`);
  }
  return { name, ratio };
}

/**
 * Registers the OpenTelemetry SDK for the process when tracing is on (`tracing.enabled`, or an
 * OTLP endpoint in the environment): a tracer provider with batched OTLP/HTTP export, a meter
 * provider for the GenAI metrics, W3C trace context propagation and an async-local context so
 * spans nest across `await`. Off, nothing is loaded and the core's spans stay no-ops.
 *
 * One telemetry per process: the SDK is global. Call `shutdown` before the process exits.
 */
export async function startTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  const turnedOn = options.spanExporter !== undefined;
  const settings = readSettings(options.config, options.env ?? process.env, options.defaultServiceName, turnedOn);
  if (!settings.enabled && !turnedOn) return { enabled: false, settings, shutdown: async () => {} };

  // Loaded only when on, so that a CLI without tracing starts as fast as before.
  const [
    { AsyncLocalStorageContextManager },
    { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator },
    { resourceFromAttributes },
    sdkTrace,
    { MeterProvider, PeriodicExportingMetricReader },
  ] = await Promise.all([
    import("@opentelemetry/context-async-hooks"),
    import("@opentelemetry/core"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/sdk-trace-base"),
    import("@opentelemetry/sdk-metrics"),
  ]);
  const { BasicTracerProvider, BatchSpanProcessor } = sdkTrace;
  const resource = resourceFromAttributes({ "service.name": settings.serviceName });
  const spanExporter = options.spanExporter ?? (await otlpSpanExporter(settings));
  const tracerProvider = new BasicTracerProvider({
    resource,
    sampler: sdkSampler(sdkTrace, settings.sampler),
    spanProcessors: [new BatchSpanProcessor(spanExporter)],
  });
  const metricReader =
    options.metricReader ??
    new PeriodicExportingMetricReader({
      exporter: await otlpMetricExporter(settings),
      exportIntervalMillis: options.metricExportIntervalMs ?? 60_000,
    });
  const meterProvider = new MeterProvider({ resource, readers: [metricReader] });

  processContextManager ??= new AsyncLocalStorageContextManager();
  context.setGlobalContextManager(processContextManager.enable());
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);

  let stopping: Promise<void> | undefined;
  return {
    enabled: true,
    settings,
    shutdown() {
      stopping ??= (async () => {
        // Export failures are the receiver's problem, never a reason for the app to fail on exit.
        await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]);
        trace.disable();
        metrics.disable();
        propagation.disable();
        context.disable();
      })();
      return stopping;
    },
  };
}

type SdkTrace = typeof SdkTraceModule;

function sdkSampler(sdk: SdkTrace, { name, ratio }: SamplerSettings) {
  const root = name.endsWith("always_off")
    ? new sdk.AlwaysOffSampler()
    : name.endsWith("traceidratio")
      ? new sdk.TraceIdRatioBasedSampler(ratio)
      : new sdk.AlwaysOnSampler();
  return name.startsWith("parentbased_") ? new sdk.ParentBasedSampler({ root }) : root;
}

async function otlpSpanExporter(settings: TelemetrySettings): Promise<SpanExporter> {
  if (settings.protocol === "http/json") {
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
    return new OTLPTraceExporter({ url: settings.tracesUrl });
  }
  const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-proto");
  return new OTLPTraceExporter({ url: settings.tracesUrl });
}

async function otlpMetricExporter(settings: TelemetrySettings) {
  if (settings.protocol === "http/json") {
    const { OTLPMetricExporter } = await import("@opentelemetry/exporter-metrics-otlp-http");
    return new OTLPMetricExporter({ url: settings.metricsUrl });
  }
  const { OTLPMetricExporter } = await import("@opentelemetry/exporter-metrics-otlp-proto");
  return new OTLPMetricExporter({ url: settings.metricsUrl });
}
