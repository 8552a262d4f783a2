import { createHash } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";
import { z } from "zod";
import type { LanguageModel } from "../llm/types.js";
import type { PluginSpec } from "./plugin-spec.js";

export interface PluginSelectorOptions {
  plugins: readonly PluginSpec[];
  /** The model whose `embed` is used (the configured embedding model). */
  model: LanguageModel;
  /** How many plugins to offer per request, `required` ones not counted. */
  topK: number;
  /** JSON file holding plugin embeddings, refreshed when a spec changes. */
  cacheFile: string;
}

export interface PluginSelector {
  /** The plugins most similar to the request (plus every `required` plugin). */
  select(request: string, options?: { signal?: AbortSignal }): Promise<PluginSpec[]>;
}

const CacheSchema = z.object({
  version: z.literal(1),
  model: z.string(),
  entries: z.record(z.string(), z.object({ hash: z.string(), embedding: z.array(z.number()) })),
});
type Cache = z.infer<typeof CacheSchema>;

/** The text that represents a plugin for similarity: what it does and what it takes. */
function pluginText(plugin: PluginSpec): string {
  const parameters = (plugin.parameters ?? []).map((parameter) => `${parameter.name}: ${parameter.description ?? ""}`);
  return [`${plugin.name}: ${plugin.description ?? ""}`, ...parameters].join("\n");
}

function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let index = 0; index < Math.min(a.length, b.length); index += 1) {
    dot += a[index]! * b[index]!;
    normA += a[index]! * a[index]!;
    normB += b[index]! * b[index]!;
  }
  return normA === 0 || normB === 0 ? 0 : dot / Math.sqrt(normA * normB);
}

/**
 * Auto plugin selection (`code_generator.enable_auto_plugin_selection`): ranks plugins by the
 * cosine similarity of their embeddings to the request's. Plugin embeddings are cached in a
 * file beside the plugins, keyed by a hash of the text they were made from, so only new or
 * changed specs are embedded again.
 */
export function createPluginSelector(options: PluginSelectorOptions): PluginSelector {
  let embeddings: Promise<Map<string, number[]>> | undefined;

  async function loadEmbeddings(signal?: AbortSignal): Promise<Map<string, number[]>> {
    let cache: Cache = { version: 1, model: options.model.modelId, entries: {} };
    try {
      const parsed = CacheSchema.safeParse(JSON.parse(await readFile(options.cacheFile, "utf8")));
      if (parsed.success && parsed.data.model === options.model.modelId) cache = parsed.data;
    } catch {
      // No cache yet, or unreadable: everything is embedded afresh.
    }
    const texts = new Map(options.plugins.map((plugin) => [plugin.name, pluginText(plugin)]));
    const hashes = new Map([...texts].map(([name, text]) => [name, createHash("sha256").update(text).digest("hex")]));
    const stale = [...texts.keys()].filter((name) => cache.entries[name]?.hash !== hashes.get(name));
    if (stale.length > 0) {
      const vectors = await options.model.embed(stale.map((name) => texts.get(name)!), { signal });
      stale.forEach((name, index) => {
        cache.entries[name] = { hash: hashes.get(name)!, embedding: vectors[index] ?? [] };
      });
      for (const name of Object.keys(cache.entries)) if (!texts.has(name)) delete cache.entries[name];
      const temporary = `${options.cacheFile}.${process.pid}.tmp`;
      await writeFile(temporary, JSON.stringify(cache));
      await rename(temporary, options.cacheFile);
    }
    return new Map(Object.entries(cache.entries).map(([name, entry]) => [name, entry.embedding]));
  }

  return {
    async select(request, selectOptions = {}) {
      embeddings ??= loadEmbeddings(selectOptions.signal);
      embeddings.catch(() => (embeddings = undefined));
      const byName = await embeddings;
      const [query] = await options.model.embed([request], { signal: selectOptions.signal });
      const ranked = options.plugins
        .filter((plugin) => !plugin.required)
        .map((plugin) => ({ plugin, score: cosine(query ?? [], byName.get(plugin.name) ?? []) }))
        .sort((a, b) => b.score - a.score)
        .slice(0, options.topK)
        .map((item) => item.plugin);
      const required = options.plugins.filter((plugin) => plugin.required);
      return [...required, ...ranked];
    },
  };
}
