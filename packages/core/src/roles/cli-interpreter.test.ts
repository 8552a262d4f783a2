import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTaskWeaver } from "../app.js";
import type { ExecutionResult } from "../executor/contract.js";
import { findAttachment } from "../memory/factories.js";
import { createFakeExecutor, fakeExecutionResult } from "../testing/fake-executor.js";
import { answers, createScriptedModel } from "../testing/scripted-model.js";
import { createShellCommandCode, formatCommandReport } from "./cli-interpreter.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function cli(command: string, thought = "A shell command does it.") {
  return JSON.stringify({ response: { thought, reply_type: "cli", reply_content: command } });
}

async function setup(
  script: Parameters<typeof createScriptedModel>[0],
  run: (code: string) => Partial<ExecutionResult>,
  config: Record<string, unknown> = {},
) {
  const directory = mkdtempSync(join(tmpdir(), "tw-cli-"));
  directories.push(directory);
  writeFileSync(join(directory, "taskweaver_config.json"), JSON.stringify({ "session.roles": ["code_interpreter_cli_only"], ...config }));
  const model = createScriptedModel(script);
  const executor = createFakeExecutor(run);
  const app = await createTaskWeaver({ appDir: directory, languageModel: model, executorFactory: () => executor, env: {} });
  return { model, executor, session: await app.createSession({ warmUp: false }) };
}

describe("code_interpreter_cli_only role", () => {
  it("runs the model's command in the kernel and reports its exit status and output to the user", async () => {
    const { session, executor, model } = await setup([cli("echo hello")], () => ({ output: "0", stdout: ["hello\n"] }));
    expect(session.roles).toEqual(["CodeInterpreter"]);
    const round = await session.sendMessage("say hello in the shell");
    expect(round.state).toBe("finished");
    const post = round.post_list[1]!;
    expect(`${post.send_from}->${post.send_to}`).toBe("CodeInterpreter->User");
    expect(executor.executed).toHaveLength(1);
    expect(executor.executed[0]).toContain('__taskweaver_run_command("echo hello")');
    expect(findAttachment(post, "thought")?.content).toBe("A shell command does it.");
    expect(findAttachment(post, "reply_type")?.content).toBe("cli");
    expect(findAttachment(post, "reply_content")?.content).toBe("echo hello");
    expect(findAttachment(post, "execution_status")?.content).toBe("SUCCESS");
    expect(findAttachment(post, "execution_result")?.content).toContain("Output:\nhello");
    expect(post.message).toContain("`echo hello` exited with status 0 (success)");
    expect(model.requests[0]!.messages[0]!.content).toMatch(/shell commands/);
  });

  it("reports a non-zero exit status as a failure without retrying", async () => {
    const { session, executor } = await setup([cli("ls missing")], () => ({ output: "2", stdout: ["ls: cannot access 'missing'\n"] }));
    const round = await session.sendMessage("list missing");
    const post = round.post_list[1]!;
    expect(post.send_to).toBe("User");
    expect(executor.executed).toHaveLength(1);
    expect(findAttachment(post, "execution_status")?.content).toBe("FAILURE");
    expect(post.message).toContain("exited with status 2 (failure)");
    expect(post.message).toContain("cannot access 'missing'");
  });

  it("answers in text without running anything when reply_type is text", async () => {
    const { session, executor } = await setup([answers.text("The last command printed hello.")], () => ({ output: "0" }));
    const round = await session.sendMessage("what did it print?");
    expect(round.post_list[1]!.message).toBe("The last command printed hello.");
    expect(executor.executed).toHaveLength(0);
  });

  it("asks the model again when its answer is unusable, and shows it the problem", async () => {
    const { session, model, executor } = await setup(
      [answers.python("print(1)"), cli("pwd")],
      () => ({ output: "0", stdout: ["/tmp\n"] }),
    );
    const round = await session.sendMessage("where am I?");
    expect(round.post_list.map((post) => `${post.send_from}->${post.send_to}`)).toEqual([
      "User->CodeInterpreter",
      "CodeInterpreter->CodeInterpreter",
      "CodeInterpreter->User",
    ]);
    expect(findAttachment(round.post_list[1]!, "invalid_response")?.content).toContain('"reply_type":"python"');
    expect(JSON.stringify(model.requests[1]!.messages)).toContain('\\"reply_type\\" must be \\"cli\\" or \\"text\\"');
    expect(executor.executed).toHaveLength(1);
  });

  it("gives up after code_interpreter.max_retry_count unusable answers and tells the requester", async () => {
    const { session } = await setup(["not json", "still not json"], () => ({ output: "0" }), { "code_interpreter.max_retry_count": 1 });
    const round = await session.sendMessage("do it");
    expect(round.state).toBe("finished");
    expect(round.post_list.at(-1)!.message).toMatch(/ran out of retries/);
  });

  it("shows the command's earlier output to the model in the next round", async () => {
    const { session, model } = await setup([cli("echo first"), cli("echo second")], (code) => ({
      output: "0",
      stdout: [code.includes("first") ? "first\n" : "second\n"],
    }));
    await session.sendMessage("one");
    await session.sendMessage("two");
    const prompt = JSON.stringify(model.requests[1]!.messages);
    expect(prompt).toContain("echo first");
    expect(prompt).toContain("exited with status 0");
  });
});

describe("createShellCommandCode", () => {
  it("passes any command as a safe Python string literal", () => {
    const code = createShellCommandCode(`echo "a\\b" 'c'\nrm -rf "$HOME"`);
    expect(code.split("\n").at(-1)).toBe(`__taskweaver_run_command(${JSON.stringify(`echo "a\\b" 'c'\nrm -rf "$HOME"`)})`);
  });
});

describe("formatCommandReport", () => {
  const base = fakeExecutionResult({ executionId: "e", output: "0" });
  it("says when a command printed nothing", () => {
    expect(formatCommandReport("true", base)).toBe("The command `true` exited with status 0 (success).\n\nIt printed nothing.");
  });
  it("says when a command was stopped by the time limit", () => {
    const report = formatCommandReport("sleep 99", { ...base, isSuccess: false, outcome: "timeout", output: "", stdout: ["tick\n"] });
    expect(report).toContain("ran past the execution time limit");
    expect(report).toContain("Output:\ntick");
  });
  it("cuts very long output", () => {
    const report = formatCommandReport("yes", { ...base, stdout: ["y\n".repeat(10_000)] });
    expect(report.length).toBeLessThan(5000);
    expect(report).toContain("characters cut");
  });
});
