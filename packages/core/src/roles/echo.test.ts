import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTaskWeaver } from "../app.js";
import { createFakeExecutor } from "../testing/fake-executor.js";
import { answers, createScriptedModel } from "../testing/scripted-model.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

async function setup(script: Parameters<typeof createScriptedModel>[0], config: Record<string, unknown>) {
  const directory = mkdtempSync(join(tmpdir(), "tw-echo-"));
  directories.push(directory);
  writeFileSync(join(directory, "taskweaver_config.json"), JSON.stringify(config));
  const model = createScriptedModel(script);
  const executor = createFakeExecutor(() => ({ output: "1" }));
  const app = await createTaskWeaver({ appDir: directory, languageModel: model, executorFactory: () => executor, env: {} });
  return { model, executor, session: await app.createSession({ warmUp: false }) };
}

describe("echo role", () => {
  it("sends the Planner's message back word for word, wrapped in the configured decorator, without a model call", async () => {
    const { session, model } = await setup(
      [answers.planner({ send_to: "Echo", message: "ping 42" }), answers.planner({ send_to: "User", message: "Echo said it." })],
      { "session.roles": ["planner", "echo"], "echo.decorator": "**" },
    );
    expect(session.roles).toEqual(["Echo", "Planner"]);
    const round = await session.sendMessage("say ping");
    expect(round.state).toBe("finished");
    const echoed = round.post_list[2]!;
    expect(`${echoed.send_from}->${echoed.send_to}`).toBe("Echo->Planner");
    expect(echoed.message).toBe("**ping 42**");
    // Two Planner calls and nothing else: the echo itself asks no model.
    expect(model.requests).toHaveLength(2);
    // The Planner is told what Echo does, and sees its reply.
    expect(JSON.stringify(model.requests[0]!.messages[0])).toMatch(/- Echo: Repeats back/);
    expect(JSON.stringify(model.requests[1]!.messages)).toContain("From Echo:\\n**ping 42**");
  });

  it("answers the User directly when it is the only role", async () => {
    const { session } = await setup([], { "session.roles": ["echo"] });
    const round = await session.sendMessage("hello there");
    expect(round.post_list.map((post) => `${post.send_from}->${post.send_to}: ${post.message}`)).toEqual([
      "User->Echo: hello there",
      "Echo->User: hello there",
    ]);
  });
});
