/**
 * `@taskweaver/telemetry`: the OpenTelemetry SDK for the TaskWeaver apps. The core records its
 * spans and GenAI metrics through `@opentelemetry/api` only; `startTelemetry` registers the SDK
 * that exports them over OTLP/HTTP (protobuf or JSON) when `tracing.enabled` is on or an
 * `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
 *
 * @publicApi
 * Telemetry: startTelemetry, telemetrySettings, Telemetry, TelemetryOptions, TelemetrySettings, OtlpProtocol, SamplerName, SamplerSettings
 */

export {
  startTelemetry,
  telemetrySettings,
  type OtlpProtocol,
  type SamplerName,
  type SamplerSettings,
  type Telemetry,
  type TelemetryOptions,
  type TelemetrySettings,
} from "./start-telemetry.js";
