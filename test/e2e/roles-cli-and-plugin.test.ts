// The command-line and plugin-only code interpreters over the real stack: the real OpenAI
// client against the fake server over HTTP, and a real local Python kernel.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTaskWeaver, findAttachment, type TaskWeaverApp, type TaskWeaverEvent } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestAppDir, startFakeOpenAIServer, type FakeOpenAIServer, type TestAppDir } from "../src/index.js";

let server: FakeOpenAIServer;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  server = await startFakeOpenAIServer({ chunkSize: 10 });
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function appDir(config: Record<string, unknown>): TestAppDir {
  const dir = createTestAppDir({
    config: { "llm.api_base": server.url, "llm.api_key": "test-key", "llm.model": "fake-model", ...config },
    copySample: false,
  });
  cleanups.push(() => dir.remove());
  return dir;
}

async function open(dir: TestAppDir): Promise<TaskWeaverApp> {
  const app = await createTaskWeaver({ appDir: dir.path, createExecutorFactory, env: {} });
  cleanups.push(() => app.close());
  return app;
}

function cli(command: string) {
  return JSON.stringify({ response: { thought: "The shell does this.", reply_type: "cli", reply_content: command } });
}

describe("code_interpreter_cli_only, end to end", () => {
  it("runs the model's commands in the session's working directory with a real kernel and reports their output", async () => {
    const app = await open(appDir({ "session.roles": ["code_interpreter_cli_only"] }));
    const session = await app.createSession();
    const before = server.chatRequests.length;
    server.enqueue(cli("echo hello && pwd"), cli("printf 'a\\nb\\n' > notes.txt && wc -l < notes.txt"), cli("ls no-such-file"));

    const events: TaskWeaverEvent[] = [];
    const first = await session.sendMessage("say hello and tell me where you are", { onEvent: (event) => events.push(event) });
    expect(first.state).toBe("finished");
    const report = first.post_list[1]!;
    expect(`${report.send_from}->${report.send_to}`).toBe("CodeInterpreter->User");
    expect(findAttachment(report, "execution_status")?.content).toBe("SUCCESS");
    expect(findAttachment(report, "execution_result")?.content).toBe(
      `The command \`echo hello && pwd\` exited with status 0 (success).\n\nOutput:\nhello\n${session.workingDirectory}`,
    );
    // The output streamed while the command ran.
    const streamed = events.flatMap((event) => (event.type === "execution-output" ? [event.text] : [])).join("");
    expect(streamed).toContain("hello\n");

    // The second command's file is real, and the model sees the first command's output.
    const second = await session.sendMessage("write two lines to notes.txt and count them");
    expect(second.post_list[1]!.message).toContain("Output:\n2");
    const secondPrompt = JSON.stringify((server.chatRequests[before + 1]!.body as { messages: unknown[] }).messages);
    expect(secondPrompt).toContain("exited with status 0");
    expect(secondPrompt).toContain(session.workingDirectory);

    const third = await session.sendMessage("list a missing file");
    const failure = third.post_list[1]!;
    expect(findAttachment(failure, "execution_status")?.content).toBe("FAILURE");
    expect(failure.message).toMatch(/exited with status [12] \(failure\)/);
    expect(failure.message).toContain("no-such-file");
  });
});

describe("code_interpreter_cli_only, stopping commands", () => {
  it("kills a command that runs past the execution time limit and reports the timeout", async () => {
    const app = await open(appDir({ "session.roles": ["code_interpreter_cli_only"], "execution_service.execution_timeout": 3 }));
    const session = await app.createSession();
    const executor = await session.executor();
    await executor.execute("kept_across_the_timeout = 5");
    // A marker no other process on the machine has in its command line.
    const marker = `${40 + Math.floor(Math.random() * 1000) / 1000}`;
    server.enqueue(cli(`echo started && sleep ${marker}`));
    const round = await session.sendMessage("wait a long time");
    expect(round.state).toBe("finished");
    const report = round.post_list[1]!;
    expect(findAttachment(report, "execution_status")?.content).toBe("FAILURE");
    expect(report.message).toContain("ran past the execution time limit");
    expect(report.message).toContain("Output:\nstarted");
    // The command was killed with the run, not left behind.
    const { execFileSync } = await import("node:child_process");
    const running = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
      .split("\n")
      .filter((line) => line.includes(`sleep ${marker}`));
    expect(running).toEqual([]);
    // Killing the command let the interrupt work: the kernel was not restarted, variables remain.
    expect((await executor.execute("kept_across_the_timeout")).output).toBe("5");
    server.enqueue(cli("echo still here"));
    const next = await session.sendMessage("are you there?");
    expect(next.post_list[1]!.message).toContain("still here");
  });
});

const SQUARE_YAML = `name: scaled_square
enabled: true
plugin_only: true
description: Squares a number and multiplies it by the configured factor.
parameters:
  - name: value
    type: float
    required: true
    description: the number to square
returns:
  - name: result
    type: float
    description: factor * value ** 2
configurations:
  factor: 10
`;

const SQUARE_PY = `from taskweaver.plugin import Plugin, register_plugin


@register_plugin
class ScaledSquare(Plugin):
    def __call__(self, value):
        self.log("info", "squaring %s" % value)
        if value < 0:
            raise ValueError("value must not be negative")
        return self.config["factor"] * value * value
`;

describe("code_interpreter_plugin_only, end to end", () => {
  it("offers the plugin as a tool, runs the model's call with the real plugin in a real kernel, and recovers from a failing call", async () => {
    const dir = appDir({ "session.roles": ["planner", "code_interpreter_plugin_only"] });
    mkdirSync(join(dir.path, "plugins"));
    writeFileSync(join(dir.path, "plugins", "scaled_square.yaml"), SQUARE_YAML);
    writeFileSync(join(dir.path, "plugins", "scaled_square.py"), SQUARE_PY);
    const app = await open(dir);
    const session = await app.createSession();
    const before = server.chatRequests.length;
    const planner = (send_to: string, message: string) =>
      JSON.stringify({
        response: {
          plan_reasoning: "The plugin does this.",
          init_plan: "1. square the number\n2. report",
          plan: "1. square the number\n2. report",
          current_plan_step: "1. square the number",
          stop: send_to === "User" ? "Completed" : "InProcess",
          send_to,
          message,
        },
      });
    server.enqueue(
      planner("CodeInterpreter", "Compute the scaled square of -3, or of 3 if that fails."),
      { toolCalls: [{ name: "scaled_square", arguments: { value: -3 } }] },
      { toolCalls: [{ name: "scaled_square", arguments: { value: 3 } }] },
      planner("User", "The scaled square is 90."),
    );

    const round = await session.sendMessage("what is the scaled square of -3?");
    expect(round.state, JSON.stringify(round.post_list.map((post) => post.message))).toBe("finished");
    expect(round.post_list.map((post) => `${post.send_from}->${post.send_to}`)).toEqual([
      "User->Planner",
      "Planner->CodeInterpreter",
      "CodeInterpreter->CodeInterpreter",
      "CodeInterpreter->Planner",
      "Planner->User",
    ]);

    // The tool the model was offered, built from the YAML file.
    const toolRequest = server.chatRequests[before + 1]!.body as { tools: { function: { name: string; parameters: unknown } }[] };
    expect(toolRequest.tools.map((tool) => tool.function.name)).toEqual(["scaled_square"]);
    expect(toolRequest.tools[0]!.function.parameters).toMatchObject({ required: ["value"], properties: { value: { type: "number" } } });

    // The failing call: the plugin's own error, from the kernel.
    const failed = round.post_list[2]!;
    expect(JSON.parse(findAttachment(failed, "function")!.content)).toMatchObject({ name: "scaled_square", arguments: { value: -3 } });
    expect(findAttachment(failed, "execution_status")?.content).toBe("FAILURE");
    expect(findAttachment(failed, "execution_result")?.content).toContain("ValueError: value must not be negative");
    // The retry request carries the call and its error as a tool result.
    const retryMessages = (server.chatRequests[before + 2]!.body as { messages: { role: string; content: string; tool_calls?: unknown[] }[] }).messages;
    expect(retryMessages.some((message) => message.role === "assistant" && message.tool_calls?.length === 1)).toBe(true);
    expect(retryMessages.find((message) => message.role === "tool")?.content).toContain("value must not be negative");

    // The working call: 10 * 3 ** 2, computed by the plugin with its configuration.
    const worked = round.post_list[3]!;
    expect(findAttachment(worked, "execution_status")?.content).toBe("SUCCESS");
    expect(findAttachment(worked, "execution_result")?.content).toContain("Displayed value:\n90");
    expect(worked.message).toContain('Called scaled_square with {"value":3}:');
    // The Planner got the result.
    expect(JSON.stringify((server.chatRequests[before + 3]!.body as { messages: unknown[] }).messages)).toContain("Displayed value:\\n90");
    // The call left `result` in the kernel, like generated code would.
    const executor = await session.executor();
    expect((await executor.execute("result")).output).toBe("90");
  });
});
