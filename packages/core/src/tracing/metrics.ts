import { metrics, type Attributes, type Histogram, type MeterProvider } from "@opentelemetry/api";
import { INSTRUMENTATION_NAME } from "./attributes.js";

/** The GenAI client metrics of the semantic conventions. */
interface ClientInstruments {
  tokenUsage: Histogram;
  operationDuration: Histogram;
}

// Bucket boundaries the conventions advise for these two histograms.
const TOKEN_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
const DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/*
 * Unlike the tracer provider, the API's global meter provider is not a proxy: instruments made
 * before the application registers its SDK would stay no-ops. So they are made per provider, on use.
 */
const instrumentsByProvider = new WeakMap<MeterProvider, ClientInstruments>();

function clientInstruments(): ClientInstruments {
  const provider = metrics.getMeterProvider();
  let instruments = instrumentsByProvider.get(provider);
  if (instruments === undefined) {
    const meter = provider.getMeter(INSTRUMENTATION_NAME);
    instruments = {
      tokenUsage: meter.createHistogram("gen_ai.client.token.usage", {
        description: "Number of input and output tokens used.",
        unit: "{token}",
        advice: { explicitBucketBoundaries: TOKEN_BUCKETS },
      }),
      operationDuration: meter.createHistogram("gen_ai.client.operation.duration", {
        description: "GenAI operation duration.",
        unit: "s",
        advice: { explicitBucketBoundaries: DURATION_BUCKETS },
      }),
    };
    instrumentsByProvider.set(provider, instruments);
  }
  return instruments;
}

/** Records one model call: its duration, and its tokens when the server reported them. */
export function recordModelCallMetrics(
  attributes: Attributes,
  durationSeconds: number,
  tokens: { input: number; output: number } | undefined,
): void {
  const instruments = clientInstruments();
  instruments.operationDuration.record(durationSeconds, attributes);
  if (tokens === undefined) return;
  instruments.tokenUsage.record(tokens.input, { ...attributes, "gen_ai.token.type": "input" });
  instruments.tokenUsage.record(tokens.output, { ...attributes, "gen_ai.token.type": "output" });
}
