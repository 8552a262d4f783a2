import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTaskWeaver } from "../app.js";
import type { ExecutionResult, PluginLoadSpec } from "../executor/contract.js";
import type { ChatRequest, ChatStreamPart, LanguageModel } from "../llm/types.js";
import { findAttachment } from "../memory/factories.js";
import { createFakeExecutor } from "../testing/fake-executor.js";
import { createPost, createRound } from "../memory/factories.js";
import { loadPlugins } from "../plugins/plugin-spec.js";
import { answers } from "../testing/scripted-model.js";
import { createPluginCallCode, createPluginInterpreter, formatPluginRounds } from "./plugin-interpreter.js";
import { PostBuilder } from "./post-builder.js";
import type { RoleContext } from "./role.js";

/** A context for calling a role directly, outside a session. */
function contextFor(message: string): RoleContext {
  const round = createRound(message);
  const incoming = createPost({ send_from: "User", send_to: "CodeInterpreter", message });
  round.post_list.push(incoming);
  return {
    sessionId: "s",
    rounds: [round],
    round,
    incoming,
    startPost: () => new PostBuilder(() => {}, { sessionId: "s", roundId: round.id }, "CodeInterpreter", (prefix) => `${prefix}-1`),
    signal: new AbortController().signal,
    roleAliases: ["CodeInterpreter"],
    generateId: (prefix) => `${prefix}-1`,
  };
}

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

type Turn = { text?: string; calls?: { name: string; arguments: string }[] } | Error;

/** A model that answers with scripted text and tool calls, as the real client streams them. */
function createToolCallingModel(turns: Turn[]) {
  const requests: ChatRequest[] = [];
  let callNumber = 0;
  const model: LanguageModel & { requests: ChatRequest[] } = {
    modelId: "tool-caller",
    usage: [],
    requests,
    async *streamChat(request): AsyncIterable<ChatStreamPart> {
      requests.push(structuredClone({ ...request, signal: undefined, onRetry: undefined }));
      const turn = turns.shift();
      if (turn === undefined) throw new Error("no turn left");
      if (turn instanceof Error) throw turn;
      if (turn.text) yield { type: "text-delta", text: turn.text };
      for (const call of turn.calls ?? []) {
        callNumber += 1;
        yield { type: "tool-call", toolCall: { id: `call_${callNumber}`, name: call.name, arguments: call.arguments } };
      }
      yield { type: "finish", finishReason: turn.calls ? "tool_calls" : "stop" };
    },
    async embed(texts) {
      return texts.map(() => [1]);
    },
  };
  return model;
}

const SQUARE_YAML = `name: square
plugin_only: true
description: Squares a number.
parameters:
  - name: value
    type: int
    required: true
    description: the number to square
returns:
  - name: squared
    type: int
    description: the square
`;
const SQUARE_PY = `from taskweaver.plugin import register_plugin\n\n@register_plugin\ndef square(value):\n    return value * value\n`;

function appDir(config: Record<string, unknown>, plugins: Record<string, string>) {
  const directory = mkdtempSync(join(tmpdir(), "tw-plugin-role-"));
  directories.push(directory);
  writeFileSync(join(directory, "taskweaver_config.json"), JSON.stringify(config));
  mkdirSync(join(directory, "plugins"));
  for (const [name, text] of Object.entries(plugins)) writeFileSync(join(directory, "plugins", name), text);
  return directory;
}

async function setup(turns: Turn[], run: (code: string) => Partial<ExecutionResult>, config: Record<string, unknown> = {}) {
  const directory = appDir(
    { "session.roles": ["code_interpreter_plugin_only"], ...config },
    {
      "square.yaml": SQUARE_YAML,
      "square.py": SQUARE_PY,
      // A normal plugin: callable from Python, but not a tool of this role.
      "shout.yaml": "name: shout\ndescription: Upper-cases text.\nparameters:\n  - name: text\n    type: str\n    required: true\n",
      "shout.py": "from taskweaver.plugin import register_plugin\n\n@register_plugin\ndef shout(text):\n    return text.upper()\n",
    },
  );
  const model = createToolCallingModel(turns);
  const executor = createFakeExecutor(run);
  const loaded: PluginLoadSpec[] = [];
  executor.loadPlugin = async (plugin) => {
    loaded.push(plugin);
    return { name: plugin.name, loaded: true };
  };
  const app = await createTaskWeaver({ appDir: directory, languageModel: model, executorFactory: () => executor, env: {} });
  return { model, executor, loaded, session: await app.createSession({ warmUp: false }) };
}

describe("code_interpreter_plugin_only role", () => {
  it("offers only plugin_only plugins as tools, runs the call in the kernel and reports the result", async () => {
    const { session, model, executor, loaded } = await setup([{ calls: [{ name: "square", arguments: '{"value": 7}' }] }], () => ({
      output: "49",
    }));
    const round = await session.sendMessage("square 7");
    expect(round.state).toBe("finished");
    expect(model.requests[0]!.tools?.map((tool) => tool.name)).toEqual(["square"]);
    expect(model.requests[0]!.tools?.[0]!.parameters).toMatchObject({ required: ["value"], properties: { value: { type: "integer" } } });
    // The session loads every enabled plugin into the kernel, this role's included.
    expect(loaded.map((plugin) => plugin.name)).toEqual(["shout", "square"]);
    expect(executor.executed).toEqual([createPluginCallCode("square", '{"value":7}')]);
    const post = round.post_list[1]!;
    expect(`${post.send_from}->${post.send_to}`).toBe("CodeInterpreter->User");
    expect(JSON.parse(findAttachment(post, "function")!.content)).toEqual({ id: "call_1", name: "square", arguments: { value: 7 } });
    expect(findAttachment(post, "execution_status")?.content).toBe("SUCCESS");
    expect(findAttachment(post, "execution_result")?.content).toContain("Displayed value:\n49");
    expect(post.message).toContain('Called square with {"value":7}:');
    expect(post.message).toContain("49");
  });

  it("tells the Planner about its functions in its description", async () => {
    const directory = appDir({ "session.roles": ["planner", "code_interpreter_plugin_only"] }, { "square.yaml": SQUARE_YAML, "square.py": SQUARE_PY });
    const model = createToolCallingModel([{ text: answers.planner({ send_to: "User", message: "hi" }) }]);
    const app = await createTaskWeaver({ appDir: directory, languageModel: model, executorFactory: () => createFakeExecutor(() => ({})), env: {} });
    const session = await app.createSession({ warmUp: false });
    expect(session.roles).toEqual(["CodeInterpreter", "Planner"]);
    await session.sendMessage("hello");
    expect(model.requests[0]!.messages[0]!.content).toContain("- CodeInterpreter: Calls these functions (plugins)");
    expect(model.requests[0]!.messages[0]!.content).toContain("square (Squares a number.");
  });

  it("loads its plugins itself, once per kernel, when used on its own", async () => {
    const { plugins } = await loadPlugins(appDir({}, { "square.yaml": SQUARE_YAML, "square.py": SQUARE_PY }) + "/plugins");
    const executors = [createFakeExecutor(() => ({ output: "4" })), createFakeExecutor(() => ({ output: "4" }))];
    const loaded: string[] = [];
    executors.forEach((executor, index) => {
      executor.loadPlugin = async (plugin) => {
        loaded.push(`${index}:${plugin.name}`);
        return { name: plugin.name, loaded: true };
      };
    });
    let current = 0;
    const role = createPluginInterpreter({
      model: createToolCallingModel([1, 2, 3].map(() => ({ calls: [{ name: "square", arguments: '{"value": 2}' }] }))),
      executor: async () => executors[current]!,
      plugins,
    });
    await role.reply(contextFor("square 2"));
    await role.reply(contextFor("square 2 again"));
    current = 1; // a new kernel, e.g. after the old one was stopped
    await role.reply(contextFor("and once more"));
    expect(loaded).toEqual(["0:square", "1:square"]);
    expect(executors[0]!.executed).toHaveLength(2);
  });

  it("relies on the session to load the plugins, once per kernel", async () => {
    const { session, loaded } = await setup(
      [{ calls: [{ name: "square", arguments: '{"value": 2}' }] }, { calls: [{ name: "square", arguments: '{"value": 3}' }] }],
      () => ({ output: "4" }),
    );
    await session.sendMessage("one");
    await session.sendMessage("two");
    expect(loaded.map((plugin) => plugin.name)).toEqual(["shout", "square"]);
  });

  it("replies in text when the model calls no function", async () => {
    const { session, executor } = await setup([{ text: "No function can book flights." }], () => ({}));
    const round = await session.sendMessage("book a flight");
    expect(round.post_list[1]!.message).toBe("No function can book flights.");
    expect(executor.executed).toHaveLength(0);
  });

  it("sends a failed call back to the model with the error as a tool result, then reports the corrected one", async () => {
    let runs = 0;
    const { session, model } = await setup(
      [{ calls: [{ name: "square", arguments: '{"value": "x"}' }] }, { calls: [{ name: "square", arguments: '{"value": 3}' }] }],
      () => {
        runs += 1;
        return runs === 1
          ? { isSuccess: false, error: { name: "TypeError", value: "can't multiply", traceback: "TypeError: can't multiply sequence" } }
          : { output: "9" };
      },
    );
    const round = await session.sendMessage("square x");
    expect(round.post_list.map((post) => `${post.send_from}->${post.send_to}`)).toEqual([
      "User->CodeInterpreter",
      "CodeInterpreter->CodeInterpreter",
      "CodeInterpreter->User",
    ]);
    expect(findAttachment(round.post_list[1]!, "execution_status")?.content).toBe("FAILURE");
    const retry = model.requests[1]!.messages;
    const assistant = retry.find((message) => message.role === "assistant");
    expect(assistant).toMatchObject({ toolCalls: [{ id: "call_1", name: "square", arguments: '{"value":"x"}' }] });
    const tool = retry.find((message) => message.role === "tool");
    expect(tool).toMatchObject({ toolCallId: "call_1" });
    expect(tool!.content).toContain("TypeError: can't multiply sequence");
    expect(round.post_list[2]!.message).toContain("9");
  });

  it("does not run a call to an unknown function or with arguments that are not a JSON object", async () => {
    const { session, executor } = await setup(
      [
        {
          calls: [
            { name: "delete_everything", arguments: "{}" },
            { name: "square", arguments: "[1]" },
            { name: "square", arguments: "{not json" },
          ],
        },
      ],
      () => ({}),
      { "code_interpreter.max_retry_count": 0 },
    );
    const round = await session.sendMessage("do bad things");
    expect(executor.executed).toHaveLength(0);
    const post = round.post_list[1]!;
    expect(post.send_to).toBe("User");
    const statuses = post.attachment_list.filter((item) => item.type === "execution_status").map((item) => item.content);
    expect(statuses).toEqual(["NONE", "NONE", "NONE"]);
    expect(post.message).toContain('there is no function "delete_everything". Available: square.');
    expect(post.message).toContain("must be a JSON object");
    expect(post.message).toContain("not valid JSON");
    expect(post.message).toMatch(/ran out of retries/);
  });

  it("refuses to start without any plugin_only plugin, naming the folder", async () => {
    const directory = appDir({ "session.roles": ["code_interpreter_plugin_only"] }, {});
    const app = await createTaskWeaver({
      appDir: directory,
      languageModel: createToolCallingModel([]),
      executorFactory: () => createFakeExecutor(() => ({})),
      env: {},
    });
    await expect(app.createSession({ warmUp: false })).rejects.toMatchObject({
      code: "config_invalid",
      message: expect.stringContaining(join(directory, "plugins")),
    });
  });
});

describe("createPluginCallCode", () => {
  it("passes arguments as one JSON string literal that cannot break out of the call", () => {
    const code = createPluginCallCode("square", JSON.stringify({ value: '") ; import os #' }));
    expect(code).toBe(`result = square(**__import__("json").loads(${JSON.stringify(JSON.stringify({ value: '") ; import os #' }))}))`);
  });
});

describe("formatPluginRounds", () => {
  it("pairs each recorded call with its result, even for calls stored without an id", () => {
    const messages = formatPluginRounds([
      {
        id: "r",
        user_query: "q",
        state: "finished",
        post_list: [
          { id: "p1", send_from: "Planner", send_to: "CodeInterpreter", message: "square 2", attachment_list: [] },
          {
            id: "p2",
            send_from: "CodeInterpreter",
            send_to: "Planner",
            message: "4",
            attachment_list: [
              { id: "a1", type: "function", content: '{"name": "square", "arguments": {"value": 2}}' },
              { id: "a2", type: "execution_result", content: "4" },
            ],
          },
        ],
      },
    ]);
    expect(messages).toEqual([
      { role: "user", content: "square 2" },
      { role: "assistant", content: "", toolCalls: [{ id: "call_0", name: "square", arguments: '{"value":2}' }] },
      { role: "tool", toolCallId: "call_0", content: "4" },
    ]);
  });
});
