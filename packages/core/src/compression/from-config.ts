import type { AppConfig } from "../config/load.js";
import type { TaskWeaverError } from "../errors.js";
import type { LanguageModel } from "../llm/types.js";
import type { Round } from "../memory/types.js";
import { formatRoundsAsText } from "./format-rounds.js";
import { createRoundCompressor, type RoundCompressor } from "./round-compressor.js";

export interface RoundCompressorFromConfigOptions {
  model: LanguageModel;
  /** @default formatRoundsAsText */
  format?: (rounds: readonly Round[]) => string;
  onError?: (error: TaskWeaverError) => void;
}

/**
 * A role's compressor when `<kind>.prompt_compression` is on (`planner` or `code_generator`),
 * sized by `round_compressor.rounds_to_compress` and `rounds_to_retain`; else `undefined`.
 * Create one per role and session: it keeps that conversation's running summary.
 */
export function roundCompressorFromConfig(
  config: AppConfig,
  kind: "planner" | "code_generator",
  options: RoundCompressorFromConfigOptions,
): RoundCompressor | undefined {
  if (!config.get(`${kind}.prompt_compression`)) return undefined;
  return createRoundCompressor({
    model: options.model,
    roundsToCompress: config.get("round_compressor.rounds_to_compress"),
    roundsToRetain: config.get("round_compressor.rounds_to_retain"),
    format: options.format ?? formatRoundsAsText,
    onError: options.onError,
    responseFormat: config.get("llm.response_format"),
    tag: `${kind}-compression`,
  });
}
