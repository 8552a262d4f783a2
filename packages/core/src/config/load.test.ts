import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { environmentVariableFor, loadConfig, parseConfigAssignments } from "./load.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function appWith(content: string | Record<string, unknown>) {
  const directory = mkdtempSync(join(tmpdir(), "tw-config-"));
  directories.push(directory);
  writeFileSync(join(directory, "taskweaver_config.json"), typeof content === "string" ? content : JSON.stringify(content));
  return directory;
}

describe("loadConfig", () => {
  it("fills TaskWeaver's defaults, with a local kernel by default", () => {
    const config = loadConfig({ appDir: appWith({}), env: {} });
    expect(config.get("session.max_internal_chat_round_num")).toBe(10);
    expect(config.get("code_interpreter.max_retry_count")).toBe(3);
    expect(config.get("session.roles")).toEqual(["planner", "code_interpreter"]);
    expect(config.get("llm.response_format")).toBe("json_object");
    expect(config.get("execution_service.kernel_mode")).toBe("local");
    expect(config.get("llm.mock.cache_path")).toBe(join(config.appDir, "cache/mock.yaml"));
  });

  it("reads flat dotted keys and nested objects alike", () => {
    const config = loadConfig({
      appDir: appWith({ "llm.model": "gpt-4o", session: { max_internal_chat_round_num: 4 } }),
      env: {},
    });
    expect(config.get("llm.model")).toBe("gpt-4o");
    expect(config.get("session.max_internal_chat_round_num")).toBe(4);
  });

  it("lets the environment override the file, and explicit overrides beat both", () => {
    const appDir = appWith({ "llm.model": "from-file", "session.max_internal_chat_round_num": 4 });
    const env = { LLM_MODEL: "from-env", SESSION_MAX_INTERNAL_CHAT_ROUND_NUM: "6", CODE_INTERPRETER_CODE_VERIFICATION_ON: "true" };
    const config = loadConfig({ appDir, env });
    expect(config.get("llm.model")).toBe("from-env");
    expect(config.get("session.max_internal_chat_round_num")).toBe(6);
    expect(config.get("code_interpreter.code_verification_on")).toBe(true);
    expect(config.origin("llm.model")).toEqual({ kind: "environment", variable: "LLM_MODEL" });
    const overridden = loadConfig({ appDir, env, overrides: parseConfigAssignments(["llm.model=from-flag", "session.roles=code_interpreter"]) });
    expect(overridden.get("llm.model")).toBe("from-flag");
    expect(overridden.get("session.roles")).toEqual(["code_interpreter"]);
  });

  it("maps keys to environment variables by TaskWeaver's rule", () => {
    expect(environmentVariableFor("llm.api_key")).toBe("LLM_API_KEY");
    expect(environmentVariableFor("llm.azure.api_version")).toBe("LLM_AZURE_API_VERSION");
  });

  it("expands ${AppBaseDir} in values", () => {
    const appDir = appWith({ "plugin.base_path": "${AppBaseDir}/my_plugins" });
    expect(loadConfig({ appDir, env: {} }).get("plugin.base_path")).toBe(`${appDir}/my_plugins`);
  });

  it("names the key, the value and its origin when a value is wrong", () => {
    const appDir = appWith({ "session.max_internal_chat_round_num": "ten" });
    expect(() => loadConfig({ appDir, env: {} })).toThrow(
      /"session\.max_internal_chat_round_num" has the value "ten" from the config file .*taskweaver_config\.json/,
    );
    expect(() => loadConfig({ appDir: appWith({}), env: { LLM_RESPONSE_FORMAT: "yaml" } })).toThrow(
      /"llm\.response_format" has the value "yaml" from environment variable LLM_RESPONSE_FORMAT/,
    );
    expect(() => loadConfig({ appDir: appWith({}), env: {}, overrides: { "code_interpreter.max_retry_count": "-1" } })).toThrow(
      /from an explicit override/,
    );
  });

  it("explains a config file that is not JSON", () => {
    expect(() => loadConfig({ appDir: appWith("{ llm.model: gpt }"), env: {} })).toThrow(/is not valid JSON/);
  });

  it("finds the nearest app directory upward, and says what to do when there is none", () => {
    const appDir = appWith({ "llm.model": "found" });
    const nested = join(appDir, "a", "b");
    mkdirSync(nested, { recursive: true });
    expect(loadConfig({ cwd: nested, env: {} }).appDir).toBe(appDir);
    const empty = mkdtempSync(join(tmpdir(), "tw-none-"));
    directories.push(empty);
    expect(() => loadConfig({ cwd: empty, env: {} })).toThrow(/-p DIR/);
  });

  it("keeps unknown keys readable and applies per-role overrides", () => {
    const config = loadConfig({ appDir: appWith({ "my_plugin.option": 3, "llm.model": "base" }), env: {} });
    expect(config.raw("my_plugin.option")).toBe(3);
    expect(config.withOverrides({ "llm.model": "other" }).get("llm.model")).toBe("other");
    expect(config.get("llm.model")).toBe("base");
  });

  it("rejects a --config assignment without a key", () => {
    expect(() => parseConfigAssignments(["=x"])).toThrow(/key=value/);
  });
});
