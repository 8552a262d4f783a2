// Experience and prompt compression as the Planner and CodeInterpreter use them in a session.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTaskWeaver } from "../app.js";
import type { ChatRequest } from "../llm/types.js";
import { createFakeExecutor } from "../testing/fake-executor.js";
import { answers, createScriptedModel } from "../testing/scripted-model.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function appDir(config: Record<string, unknown>) {
  const directory = mkdtempSync(join(tmpdir(), "tw-memory-"));
  directories.push(directory);
  writeFileSync(join(directory, "taskweaver_config.json"), JSON.stringify(config));
  return directory;
}

const systemOf = (request: ChatRequest) => request.messages[0]!.content as string;
const isSummaryRequest = (request: ChatRequest) => systemOf(request).includes("running summary");

describe("prompt compression in a session", () => {
  it("replaces old rounds by a summary in the Planner's prompt and keeps the recent ones", async () => {
    const reply = (request: ChatRequest) =>
      isSummaryRequest(request)
        ? JSON.stringify({ summary: "The user said their name is Ada." })
        : answers.planner({ send_to: "User", message: "noted" });
    const model = createScriptedModel([reply, reply, reply, reply, reply, reply]);
    const app = await createTaskWeaver({
      appDir: appDir({ "planner.prompt_compression": true, "round_compressor.rounds_to_compress": 1, "round_compressor.rounds_to_retain": 1 }),
      env: {},
      languageModel: model,
      executorFactory: () => createFakeExecutor(() => ({})),
    });
    const session = await app.createSession({ warmUp: false });
    await session.sendMessage("my name is Ada");
    await session.sendMessage("I like tea");
    const plannerCalls = model.requests.filter((request) => !isSummaryRequest(request));
    const last = plannerCalls.at(-1)!;
    expect(systemOf(last)).toContain("Summary of the earlier conversation:\nThe user said their name is Ada.");
    const history = JSON.stringify(last.messages.slice(1));
    expect(history).not.toContain("my name is Ada");
    expect(history).toContain("I like tea");
    expect(model.requests.some(isSummaryRequest)).toBe(true);
  });

  it("keeps the full history when the summary fails", async () => {
    const reply = (request: ChatRequest) => {
      if (isSummaryRequest(request)) throw new Error("the summary model is down");
      return answers.planner({ send_to: "User", message: "noted" });
    };
    const model = createScriptedModel([reply, reply, reply, reply]);
    const app = await createTaskWeaver({
      appDir: appDir({ "planner.prompt_compression": true, "round_compressor.rounds_to_compress": 1, "round_compressor.rounds_to_retain": 1 }),
      env: {},
      languageModel: model,
      executorFactory: () => createFakeExecutor(() => ({})),
    });
    const session = await app.createSession({ warmUp: false });
    await session.sendMessage("my name is Ada");
    const round = await session.sendMessage("I like tea");
    expect(round.state).toBe("finished");
    const last = model.requests.filter((request) => !isSummaryRequest(request)).at(-1)!;
    expect(JSON.stringify(last.messages)).toContain("my name is Ada");
    expect(systemOf(last)).not.toContain("Summary of the earlier conversation");
  });
});

describe("experience in a session", () => {
  it("puts a hand-written lesson into the Planner's system prompt, and /save writes the session", async () => {
    const directory = appDir({ "planner.use_experience": true, "experience.retrieve_threshold": 0.5 });
    mkdirSync(join(directory, "experience"));
    writeFileSync(
      join(directory, "experience", "exp_csv-paths.yaml"),
      "exp_id: csv-paths\nexperience_text: Files the user attaches are in the working directory; open them by bare name.\n",
    );
    const model = createScriptedModel([answers.planner({ send_to: "User", message: "ok" })]);
    const app = await createTaskWeaver({
      appDir: directory,
      env: {},
      languageModel: model,
      executorFactory: () => createFakeExecutor(() => ({})),
    });
    const session = await app.createSession({ warmUp: false });
    const round = await session.sendMessage("read my csv");
    expect(round.state).toBe("finished");
    expect(systemOf(model.requests[0]!)).toContain("Files the user attaches are in the working directory");
    const saved = await session.saveExperience();
    expect(saved.roundCount).toBe(1);
    expect(existsSync(join(directory, "experience", `raw_exp_${session.id}.yaml`))).toBe(true);
  });
});
