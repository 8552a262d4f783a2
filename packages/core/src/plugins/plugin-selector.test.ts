import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { LanguageModel } from "../llm/types.js";
import { createPluginSelector } from "./plugin-selector.js";
import type { PluginSpec } from "./plugin-spec.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function plugin(name: string, description: string, required = false): PluginSpec {
  return {
    name,
    description,
    enabled: true,
    required,
    plugin_only: false,
    parameters: [],
    returns: [],
    configurations: {},
    code: name,
    pythonSource: "",
    specFile: `${name}.yaml`,
    codeFile: `${name}.py`,
  } as unknown as PluginSpec;
}

/** Embeds by keyword: one dimension per topic word. */
function keywordModel() {
  const topics = ["anomaly", "sql", "chart"];
  const embedded: string[] = [];
  const model: LanguageModel = {
    modelId: "keywords",
    usage: [],
    streamChat: () => {
      throw new Error("not used");
    },
    async embed(texts) {
      embedded.push(...texts);
      return texts.map((text) => topics.map((topic) => (text.toLowerCase().includes(topic) ? 1 : 0.01)));
    },
  };
  return { model, embedded };
}

describe("createPluginSelector", () => {
  const plugins = [
    plugin("anomaly_detection", "Finds anomaly points in a time series"),
    plugin("sql_pull_data", "Runs a SQL query against the database"),
    plugin("chart_maker", "Draws a chart"),
    plugin("logger", "Always there", true),
  ];

  it("picks the top-k plugins most similar to the request, plus required ones", async () => {
    const directory = mkdtempSync(join(tmpdir(), "tw-select-"));
    directories.push(directory);
    const { model } = keywordModel();
    const selector = createPluginSelector({ plugins, model, topK: 1, cacheFile: join(directory, "cache.json") });
    expect((await selector.select("detect the anomaly in my data")).map((item) => item.name)).toEqual(["logger", "anomaly_detection"]);
    expect((await selector.select("pull rows with sql")).map((item) => item.name)).toEqual(["logger", "sql_pull_data"]);
  });

  it("caches plugin embeddings in a file and embeds again only the specs that changed", async () => {
    const directory = mkdtempSync(join(tmpdir(), "tw-select-"));
    directories.push(directory);
    const cacheFile = join(directory, "cache.json");
    const first = keywordModel();
    await createPluginSelector({ plugins, model: first.model, topK: 2, cacheFile }).select("chart");
    expect(first.embedded).toHaveLength(5); // four plugins and the request
    expect(Object.keys(JSON.parse(readFileSync(cacheFile, "utf8")).entries)).toHaveLength(4);

    const second = keywordModel();
    await createPluginSelector({ plugins, model: second.model, topK: 2, cacheFile }).select("chart");
    expect(second.embedded).toEqual(["chart"]);

    const changed = [...plugins.slice(0, 3), plugin("logger", "Now about sql too", true)];
    const third = keywordModel();
    await createPluginSelector({ plugins: changed, model: third.model, topK: 2, cacheFile }).select("chart");
    expect(third.embedded).toEqual(["logger: Now about sql too", "chart"]);
  });
});
