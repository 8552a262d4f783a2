import { describe, expect, it } from "vitest";
import { ConfigError, LlmNotConfiguredError, TaskWeaverError } from "@taskweaver/core";
import { formatStartupError } from "./startup-errors.js";

describe("formatStartupError", () => {
  it("names every missing model key with its environment variable, and the optional base URL", () => {
    const text = formatStartupError(new LlmNotConfiguredError("no model", ["llm.model", "llm.api_key"]), {
      configFile: "/p/taskweaver_config.json",
    });
    expect(text).toContain("/p/taskweaver_config.json");
    expect(text).toMatch(/llm\.model\s+\(LLM_MODEL\)/);
    expect(text).toMatch(/llm\.api_key\s+\(LLM_API_KEY\)/);
    expect(text).toMatch(/Optional:\n\s+llm\.api_base\s+\(LLM_API_BASE\)/);
    expect(text).toContain("--demo");
  });

  it("names the command that works: the one given, else the repository's pnpm script", () => {
    const error = new LlmNotConfiguredError("no model", ["llm.model"]);
    expect(formatStartupError(error, { command: "taskweaver" })).toContain("run: taskweaver --demo\n");
    expect(formatStartupError(error)).toContain("run: pnpm --silent taskweaver --demo\n");
  });

  it("prints the message of a config error without a stack", () => {
    const text = formatStartupError(new ConfigError('Config key "llm.model" is wrong.'));
    expect(text).toBe('Error: Config key "llm.model" is wrong.\n');
    expect(text).not.toContain("    at ");
  });

  it("prints any TaskWeaver error's message and reports other errors as unexpected", () => {
    expect(formatStartupError(new TaskWeaverError("executor_unavailable", "No Python."))).toBe(
      "Error: No Python.\n",
    );
    expect(formatStartupError(new Error("boom"))).toBe("Unexpected error: boom\n");
  });
});
