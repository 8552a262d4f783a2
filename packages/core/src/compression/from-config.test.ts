import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../config/load.js";
import type { Round } from "../memory/types.js";
import { createScriptedModel } from "../testing/scripted-model.js";
import { roundCompressorFromConfig } from "./from-config.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function config(values: Record<string, unknown>) {
  const directory = mkdtempSync(join(tmpdir(), "tw-compression-config-"));
  directories.push(directory);
  writeFileSync(join(directory, "taskweaver_config.json"), JSON.stringify(values));
  return loadConfig({ appDir: directory, env: {} });
}

describe("roundCompressorFromConfig", () => {
  it("is off unless <role>.prompt_compression is on, and uses the round_compressor sizes", async () => {
    const appConfig = config({
      "code_generator.prompt_compression": true,
      "round_compressor.rounds_to_compress": 1,
      "round_compressor.rounds_to_retain": 1,
    });
    const model = createScriptedModel([JSON.stringify({ summary: "earlier: one question" })]);
    expect(roundCompressorFromConfig(appConfig, "planner", { model })).toBeUndefined();
    const compressor = roundCompressorFromConfig(appConfig, "code_generator", { model })!;
    const rounds: Round[] = ["a", "b"].map((id) => ({ id, user_query: id, state: "finished", post_list: [] }));
    const result = await compressor.compress(rounds);
    expect(result.summary).toBe("earlier: one question");
    expect(result.recentRounds.map((round) => round.id)).toEqual(["b"]);
    expect(model.requests[0]!.tag).toBe("code_generator-compression");
  });
});
