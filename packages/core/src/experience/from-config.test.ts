import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../config/load.js";
import { createScriptedModel } from "../testing/scripted-model.js";
import { experienceRetrieverFromConfig, experienceStoreFromConfig } from "./from-config.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function config(values: Record<string, unknown>) {
  const directory = mkdtempSync(join(tmpdir(), "tw-experience-config-"));
  directories.push(directory);
  writeFileSync(join(directory, "taskweaver_config.json"), JSON.stringify(values));
  return loadConfig({ appDir: directory, env: {} });
}

describe("experienceRetrieverFromConfig", () => {
  it("is off unless <role>.use_experience is on, and reads lessons from session.experience_dir with the configured threshold", async () => {
    const appConfig = config({ "planner.use_experience": true, "experience.retrieve_threshold": 0.99 });
    const model = createScriptedModel([]);
    model.embed = async (texts) => texts.map((text) => (text.toLowerCase().includes("chart") ? [1, 0] : [0.6, 0.8]));
    const store = experienceStoreFromConfig(appConfig, model);
    expect(experienceRetrieverFromConfig(appConfig, "code_generator", store)).toBeUndefined();
    const retrieve = experienceRetrieverFromConfig(appConfig, "planner", store)!;
    mkdirSync(join(appConfig.appDir, "experience"));
    writeFileSync(join(appConfig.appDir, "experience", "exp_a.yaml"), "experience_text: Charts go to PNG files.\n");
    expect(await retrieve("a chart please")).toBe("- Charts go to PNG files.");
    // Similarity 0.6 is under the configured 0.99.
    expect(await retrieve("something else")).toBeUndefined();
  });
});
