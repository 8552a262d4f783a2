// A small OTLP/HTTP receiver for the tracing tests: it accepts traces and metrics on
// /v1/traces and /v1/metrics in both encodings the exporters speak (application/json and
// application/x-protobuf), decodes them, and keeps spans and metric points in one plain shape.
// Protobuf is decoded by protobufjs with the message definitions below: our own transcription
// of the subset of the OTLP .proto files the tests read (field numbers as the protocol fixes
// them; protobuf skips the fields a schema leaves out).
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import protobuf from "protobufjs";

const OTLP_SUBSET = `
syntax = "proto3";
package otlp;
message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
    KeyValueList kvlist_value = 6;
    bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; }
message InstrumentationScope { string name = 1; string version = 2; }
message Status { string message = 2; int32 code = 3; }
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; }
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  bytes parent_span_id = 4;
  string name = 5;
  int32 kind = 6;
  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9;
  repeated Event events = 11;
  Status status = 15;
}
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message HistogramDataPoint {
  fixed64 count = 4;
  optional double sum = 5;
  repeated KeyValue attributes = 9;
}
message Histogram { repeated HistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message Metric { string name = 1; string description = 2; string unit = 3; Histogram histogram = 9; }
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; }
message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
`;

const root = protobuf.parse(OTLP_SUBSET, { keepCase: false }).root;
const TraceRequest = root.lookupType("otlp.ExportTraceServiceRequest");
const MetricsRequest = root.lookupType("otlp.ExportMetricsServiceRequest");

/** A received span, the same whichever encoding carried it. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: Record<string, unknown>;
  events: { name: string; attributes: Record<string, unknown> }[];
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  resource: Record<string, unknown>;
  scope: string;
}

/** A received histogram point. */
export interface ReceivedHistogramPoint {
  metric: string;
  unit: string;
  count: number;
  sum: number | undefined;
  attributes: Record<string, unknown>;
}

export interface OtlpReceiver {
  /** Base URL, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly url: string;
  readonly spans: ReceivedSpan[];
  readonly histogramPoints: ReceivedHistogramPoint[];
  /** `path content-type` of every request received. */
  readonly requests: string[];
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

function hex(value: unknown): string {
  if (typeof value === "string") return value.toLowerCase();
  if (value instanceof Uint8Array) return Buffer.from(value).toString("hex");
  return "";
}

/** An AnyValue, from OTLP/JSON (camelCase keys) or protobufjs's object (the same keys). */
function anyValue(value: Json | undefined): unknown {
  if (value === undefined || value === null) return undefined;
  if ("stringValue" in value) return value["stringValue"];
  if ("boolValue" in value) return value["boolValue"];
  if ("intValue" in value) return Number(value["intValue"]);
  if ("doubleValue" in value) return Number(value["doubleValue"]);
  if ("arrayValue" in value) return ((value["arrayValue"] as Json)["values"] as Json[] | undefined ?? []).map(anyValue);
  if ("kvlistValue" in value) return attributes((value["kvlistValue"] as Json)["values"] as Json[] | undefined);
  return undefined;
}

function attributes(list: Json[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((item) => [item["key"] as string, anyValue(item["value"] as Json | undefined)]));
}

function readSpans(request: Json, into: ReceivedSpan[]): void {
  for (const resourceSpans of (request["resourceSpans"] as Json[] | undefined) ?? []) {
    const resource = attributes(((resourceSpans["resource"] as Json | undefined)?.["attributes"] as Json[] | undefined) ?? []);
    for (const scopeSpans of (resourceSpans["scopeSpans"] as Json[] | undefined) ?? []) {
      const scope = ((scopeSpans["scope"] as Json | undefined)?.["name"] as string | undefined) ?? "";
      for (const span of (scopeSpans["spans"] as Json[] | undefined) ?? []) {
        into.push({
          traceId: hex(span["traceId"]),
          spanId: hex(span["spanId"]),
          parentSpanId: hex(span["parentSpanId"]),
          name: span["name"] as string,
          kind: Number(span["kind"] ?? 0),
          attributes: attributes(span["attributes"] as Json[] | undefined),
          events: ((span["events"] as Json[] | undefined) ?? []).map((event) => ({
            name: event["name"] as string,
            attributes: attributes(event["attributes"] as Json[] | undefined),
          })),
          statusCode: Number((span["status"] as Json | undefined)?.["code"] ?? 0),
          resource,
          scope,
        });
      }
    }
  }
}

function readMetrics(request: Json, into: ReceivedHistogramPoint[]): void {
  for (const resourceMetrics of (request["resourceMetrics"] as Json[] | undefined) ?? []) {
    for (const scopeMetrics of (resourceMetrics["scopeMetrics"] as Json[] | undefined) ?? []) {
      for (const metric of (scopeMetrics["metrics"] as Json[] | undefined) ?? []) {
        const histogram = metric["histogram"] as Json | undefined;
        for (const point of (histogram?.["dataPoints"] as Json[] | undefined) ?? []) {
          into.push({
            metric: metric["name"] as string,
            unit: (metric["unit"] as string | undefined) ?? "",
            count: Number(point["count"] ?? 0),
            sum: point["sum"] === undefined ? undefined : Number(point["sum"]),
            attributes: attributes(point["attributes"] as Json[] | undefined),
          });
        }
      }
    }
  }
}

async function body(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Starts the receiver on 127.0.0.1 and a free port. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const histogramPoints: ReceivedHistogramPoint[] = [];
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    void (async () => {
      const path = new URL(request.url ?? "/", "http://127.0.0.1").pathname;
      const contentType = (request.headers["content-type"] ?? "").split(";")[0]!.trim();
      const data = await body(request);
      requests.push(`${path} ${contentType}`);
      const isProtobuf = contentType === "application/x-protobuf";
      if ((path !== "/v1/traces" && path !== "/v1/metrics") || (!isProtobuf && contentType !== "application/json")) {
        response.writeHead(404).end();
        return;
      }
      const type = path === "/v1/traces" ? TraceRequest : MetricsRequest;
      const decoded: Json = isProtobuf
        ? (type.toObject(type.decode(data), { longs: String, enums: Number, bytes: Array, defaults: false }) as Json)
        : (JSON.parse(data.toString("utf8")) as Json);
      if (isProtobuf) normalizeBytes(decoded);
      if (path === "/v1/traces") readSpans(decoded, spans);
      else readMetrics(decoded, histogramPoints);
      // An empty Export*ServiceResponse: zero bytes in protobuf, {} in JSON.
      response.writeHead(200, { "content-type": contentType }).end(isProtobuf ? Buffer.alloc(0) : "{}");
    })().catch((error: unknown) => {
      response.writeHead(400, { "content-type": "text/plain" }).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    histogramPoints,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** protobufjs gives bytes as number arrays with `bytes: Array`; ids become Uint8Arrays for `hex`. */
function normalizeBytes(value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) normalizeBytes(item);
    return;
  }
  if (typeof value !== "object" || value === null) return;
  const record = value as Json;
  for (const key of ["traceId", "spanId", "parentSpanId"]) {
    if (Array.isArray(record[key])) record[key] = Uint8Array.from(record[key] as number[]);
  }
  for (const item of Object.values(record)) normalizeBytes(item);
}

/** The spans of one trace as `name` paths from the root, e.g. `POST /x > invoke_agent Planner`. */
export function spanPaths(spans: readonly ReceivedSpan[]): string[] {
  const byId = new Map(spans.map((span) => [span.spanId, span]));
  return spans.map((span) => {
    const names = [span.name];
    let parent = byId.get(span.parentSpanId);
    while (parent) {
      names.unshift(parent.name);
      parent = byId.get(parent.parentSpanId);
    }
    return names.join(" > ");
  });
}
