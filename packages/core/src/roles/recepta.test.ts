import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTaskWeaver } from "../app.js";
import { createFakeExecutor } from "../testing/fake-executor.js";
import { answers, createScriptedModel } from "../testing/scripted-model.js";
import { RECEPTA_REPLY } from "./recepta.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

async function setup(script: Parameters<typeof createScriptedModel>[0], config: Record<string, unknown>) {
  const directory = mkdtempSync(join(tmpdir(), "tw-recepta-"));
  directories.push(directory);
  writeFileSync(join(directory, "taskweaver_config.json"), JSON.stringify(config));
  const model = createScriptedModel(script);
  const executor = createFakeExecutor(() => ({ output: "1" }));
  const app = await createTaskWeaver({ appDir: directory, languageModel: model, executorFactory: () => executor, env: {} });
  return { model, executor, session: await app.createSession({ warmUp: false }) };
}

describe("recepta role", () => {
  it("acknowledges the Planner's reasoning and hands the turn back so it can keep planning", async () => {
    const { session, model } = await setup(
      [
        answers.planner({ send_to: "Recepta", message: "I first need the file name; I think it is data.csv." }),
        answers.planner({ send_to: "CodeInterpreter", message: "Count the rows of data.csv." }),
        answers.python("len(rows)"),
        answers.planner({ send_to: "User", message: "There is 1 row." }),
      ],
      { "session.roles": ["planner", "recepta", "code_interpreter"] },
    );
    const round = await session.sendMessage("how many rows?");
    expect(round.state).toBe("finished");
    expect(round.post_list.map((post) => `${post.send_from}->${post.send_to}`)).toEqual([
      "User->Planner",
      "Planner->Recepta",
      "Recepta->Planner",
      "Planner->CodeInterpreter",
      "CodeInterpreter->Planner",
      "Planner->User",
    ]);
    expect(round.post_list[2]!.message).toBe(RECEPTA_REPLY);
    expect(JSON.stringify(model.requests[0]!.messages[0])).toContain("- Recepta: Takes note of your intermediate reasoning");
    expect(JSON.stringify(model.requests[1]!.messages)).toContain(`From Recepta:\\n${RECEPTA_REPLY}`);
  });
});
