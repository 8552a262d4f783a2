/** The token counts pricing needs (the shape of the model clients' `TokenUsage`). */
export interface CallTokens {
  promptTokens: number;
  completionTokens: number;
  cachedPromptTokens?: number;
}

/** Prices of one model in US dollars per million tokens (`llm.pricing`). */
export interface ModelPrice {
  input: number;
  output: number;
  /** Price of prompt tokens the server reports as cached. @default the `input` price */
  cached_input?: number;
}

/** `llm.pricing`: model name -> prices, e.g. `{ "gpt-4o": { "input": 2.5, "output": 10 } }`. */
export type ModelPricing = Readonly<Record<string, ModelPrice>>;

/** The cost in USD of one call, or `undefined` when the model has no price or no usage was reported. */
export function costOfCall(pricing: ModelPricing | undefined, model: string, usage: CallTokens | undefined): number | undefined {
  const price = pricing?.[model];
  if (!price || !usage) return undefined;
  const cached = Math.min(usage.cachedPromptTokens ?? 0, usage.promptTokens);
  const uncached = usage.promptTokens - cached;
  return (uncached * price.input + cached * (price.cached_input ?? price.input) + usage.completionTokens * price.output) / 1_000_000;
}
