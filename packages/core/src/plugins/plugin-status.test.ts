import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTaskWeaver } from "../app.js";
import type { PluginLoadState } from "../executor/contract.js";
import type { TaskWeaverEvent } from "../events/types.js";
import { createFakeExecutor } from "../testing/fake-executor.js";
import { answers, createScriptedModel } from "../testing/scripted-model.js";
import { describePluginStatus, missingModuleOf, pluginStatuses } from "./plugin-status.js";
import type { PluginSpec } from "./plugin-spec.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function pluginYaml(name: string): string {
  return [
    `name: ${name}`,
    "enabled: true",
    `description: ${name} does one thing`,
    "parameters:",
    "  - name: x",
    "    type: int",
    "    required: true",
    "    description: a number",
    "returns:",
    "  - name: y",
    "    type: int",
    "    description: a number",
  ].join("\n");
}

function appWithPlugins(names: string[]): string {
  const directory = mkdtempSync(join(tmpdir(), "tw-plugin-status-"));
  directories.push(directory);
  mkdirSync(join(directory, "plugins"));
  writeFileSync(join(directory, "taskweaver_config.json"), JSON.stringify({ "session.roles": ["planner", "code_interpreter"] }));
  for (const name of names) {
    writeFileSync(join(directory, "plugins", `${name}.yaml`), pluginYaml(name));
    writeFileSync(join(directory, "plugins", `${name}.py`), `# ${name}\n`);
  }
  return directory;
}

describe("plugin statuses", () => {
  it("names the missing module and the Debian package to install", () => {
    expect(missingModuleOf("ModuleNotFoundError: No module named 'requests.adapters'")).toBe("requests");
    expect(missingModuleOf("RuntimeError: boom")).toBeUndefined();
    const spec = { name: "klarna_search", codeFile: "/app/plugins/klarna_search.py" } as PluginSpec;
    const [status] = pluginStatuses(
      [spec],
      [{ name: "klarna_search", loaded: false, error: "ModuleNotFoundError: No module named 'requests'" }],
      "/app",
    );
    expect(status).toMatchObject({ name: "klarna_search", loaded: false, file: "plugins/klarna_search.py" });
    expect(describePluginStatus(status!)).toBe(
      "plugin klarna_search could not be loaded and is left out: ModuleNotFoundError: No module named 'requests' " +
        "(plugins/klarna_search.py); install requests into the kernel's Python (on Debian: apt-get install " +
        "python3-requests), or point execution_service.python at an environment that has it.",
    );
    expect(pluginStatuses([{ name: "sklearn_user", codeFile: "/x.py" } as PluginSpec], [
      { name: "sklearn_user", loaded: false, error: "ModuleNotFoundError: No module named 'sklearn'" },
    ])[0]?.hint).toContain("apt-get install python3-sklearn");
  });

  it("reports a plugin that failed to load once, leaves it out of the prompt, and keeps the others", async () => {
    const appDir = appWithPlugins(["good_one", "broken_one"]);
    const executor = createFakeExecutor(() => ({ output: "3" }));
    const states: PluginLoadState[] = [];
    executor.loadPlugin = async (plugin) => {
      const state =
        plugin.name === "broken_one"
          ? { name: plugin.name, loaded: false, error: "ModuleNotFoundError: No module named 'requests'" }
          : { name: plugin.name, loaded: true };
      states.push(state);
      return state;
    };
    Object.defineProperty(executor, "pluginStates", { get: () => [...states] });
    const model = createScriptedModel([
      answers.planner({ send_to: "CodeInterpreter", message: "compute it" }),
      answers.python("good_one(1)"),
      answers.planner({ send_to: "User", message: "It is 3." }),
    ]);
    const app = await createTaskWeaver({ appDir, languageModel: model, executorFactory: () => executor, env: {} });
    const session = await app.createSession({ warmUp: false });
    const events: TaskWeaverEvent[] = [];
    const round = await session.sendMessage("compute", { onEvent: (event) => events.push(event) });
    expect(round.state).toBe("finished");

    const statusEvents = events.filter((event) => event.type === "plugin-status");
    expect(statusEvents).toHaveLength(1);
    expect(statusEvents[0]).toMatchObject({
      roundId: round.id,
      plugins: [
        { name: "broken_one", loaded: false, error: "ModuleNotFoundError: No module named 'requests'", file: "plugins/broken_one.py" },
        { name: "good_one", loaded: true },
      ],
    });
    expect(session.plugins.map((status) => [status.name, status.loaded])).toEqual([
      ["broken_one", false],
      ["good_one", true],
    ]);
    const interpreterPrompt = JSON.stringify(model.requests[1]?.messages[0]);
    expect(interpreterPrompt).toContain("good_one");
    expect(interpreterPrompt).not.toContain("broken_one");
    await app.close();
  });
});
