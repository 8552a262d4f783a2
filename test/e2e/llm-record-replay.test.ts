// The language model as the app wires it from config: record/replay through the mock,
// per-role aliases, and the error a user sees when no model is configured.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createTaskWeaver, LlmNotConfiguredError, type TaskWeaverEvent } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";
import { afterEach, expect, it } from "vitest";
import {
  createTestAppDir,
  startFakeOpenAIServer,
  type FakeOpenAIServer,
  type TestAppDir,
} from "../src/index.js";

const plannerAnswer = JSON.stringify({
  response: {
    plan_reasoning: "A greeting needs no code.",
    init_plan: "1. greet the user",
    plan: "1. greet the user",
    current_plan_step: "1. greet the user",
    stop: "Completed",
    send_to: "User",
    message: "Hello! I can analyse data for you.",
  },
});

let server: FakeOpenAIServer | undefined;
const dirs: TestAppDir[] = [];
afterEach(async () => {
  await server?.close();
  server = undefined;
  for (const dir of dirs.splice(0)) dir.remove();
});

function appDir(config: Record<string, unknown>): TestAppDir {
  const dir = createTestAppDir({ config, copySample: false });
  dirs.push(dir);
  return dir;
}

async function greet(path: string, overrides: Record<string, unknown> = {}) {
  const app = await createTaskWeaver({
    appDir: path,
    createExecutorFactory,
    env: {},
    configOverrides: overrides,
  });
  try {
    const session = await app.createSession({ warmUp: false });
    const events: TaskWeaverEvent[] = [];
    const round = await session.sendMessage("hello", { onEvent: (event) => events.push(event) });
    return { round, events };
  } finally {
    await app.close();
  }
}

function replyText(events: TaskWeaverEvent[]): string {
  return events.flatMap((event) => (event.type === "post-delta" ? [event.delta] : [])).join("");
}

it("plays a recorded round back, streamed, after the model server is gone", async () => {
  server = await startFakeOpenAIServer({ responses: [plannerAnswer] });
  const dir = appDir({
    "llm.api_base": server.url,
    "llm.api_key": "k",
    "llm.model": "fake-model",
    "llm.use_mock": true,
    "llm.mock.mode": "playback_or_record",
  });
  const recorded = await greet(dir.path);
  expect(recorded.round.state).toBe("finished");
  expect(server.chatRequests).toHaveLength(1);
  const cachePath = join(dir.path, "cache", "mock.yaml");
  expect(existsSync(cachePath)).toBe(true);
  expect(readFileSync(cachePath, "utf8")).toContain("Hello! I can analyse data for you.");
  await server.close();
  server = undefined;

  // No endpoint, no key: playback needs neither.
  const replayed = await greet(dir.path, {
    "llm.mock.mode": "playback_only",
    "llm.api_base": "http://127.0.0.1:9/v1",
    "llm.api_key": "",
  });
  expect(replayed.round.state).toBe("finished");
  expect(replyText(replayed.events)).toBe("Hello! I can analyse data for you.");
  expect(replayed.events.filter((event) => event.type === "post-delta").length).toBeGreaterThan(1);
  expect(replyText(replayed.events)).toBe(replyText(recorded.events));
});

it("fails the round with a clear message when playback_only has no recording", async () => {
  const dir = appDir({ "llm.use_mock": true, "llm.mock.mode": "playback_only" });
  const { round, events } = await greet(dir.path);
  expect(round.state).toBe("failed");
  const failure = events.find((event) => event.type === "round-error");
  expect(JSON.stringify(failure)).toContain("no recorded answer");
});

it("sends the Planner's call to the model named by planner.llm_alias", async () => {
  server = await startFakeOpenAIServer({ responses: [plannerAnswer] });
  const dir = appDir({
    "llm.api_base": server.url,
    "llm.api_key": "k",
    "llm.model": "main-model",
    "ext_llms.llm_configs": { planning: { "llm.model": "planning-model", "llm.openai.temperature": 0.5 } },
    "planner.llm_alias": "planning",
  });
  const { round } = await greet(dir.path);
  expect(round.state).toBe("finished");
  expect(server.chatRequests[0]!.body).toMatchObject({ model: "planning-model", temperature: 0.5 });
});

it("refuses to start without a model, naming the keys and environment variables to set", async () => {
  const dir = appDir({});
  const error = await createTaskWeaver({ appDir: dir.path, createExecutorFactory, env: {} }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(LlmNotConfiguredError);
  expect((error as LlmNotConfiguredError).missingKeys).toEqual(["llm.model", "llm.api_key"]);
  expect((error as Error).message).toMatch(/LLM_MODEL[\s\S]*LLM_API_KEY[\s\S]*LLM_API_BASE/);
});
