import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTaskWeaver } from "../app.js";
import type { ExecutionResult } from "../executor/contract.js";
import { findAttachment } from "../memory/factories.js";
import { createFakeExecutor } from "../testing/fake-executor.js";
import { answers, createScriptedModel } from "../testing/scripted-model.js";
import type { TaskWeaverEvent } from "../events/types.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function appDir(config: Record<string, unknown> = {}) {
  const directory = mkdtempSync(join(tmpdir(), "tw-session-"));
  directories.push(directory);
  writeFileSync(join(directory, "taskweaver_config.json"), JSON.stringify(config));
  return directory;
}

async function setup(
  script: Parameters<typeof createScriptedModel>[0],
  config: Record<string, unknown> = {},
  run: (code: string) => Partial<ExecutionResult> = () => ({ output: "42" }),
) {
  const model = createScriptedModel(script);
  const executor = createFakeExecutor(run);
  const app = await createTaskWeaver({ appDir: appDir(config), languageModel: model, executorFactory: () => executor, env: {} });
  const session = await app.createSession();
  return { model, executor, app, session };
}

describe("Session", () => {
  it("runs a planner round of four posts and streams its events in order", async () => {
    const { session } = await setup([
      answers.planner({ send_to: "CodeInterpreter", message: "Compute 6*7." }),
      answers.python("6*7"),
      answers.planner({ send_to: "User", message: "The answer is 42." }),
    ]);
    const events: TaskWeaverEvent[] = [];
    const round = await session.sendMessage("what is 6*7?", { onEvent: (event) => events.push(event) });
    expect(round.state).toBe("finished");
    expect(round.post_list.map((post) => `${post.send_from}->${post.send_to}`)).toEqual([
      "User->Planner",
      "Planner->CodeInterpreter",
      "CodeInterpreter->Planner",
      "Planner->User",
    ]);
    const codePost = round.post_list[2]!;
    expect(findAttachment(codePost, "reply_content")?.content).toBe("6*7");
    expect(findAttachment(codePost, "verification")?.content).toBe("NONE");
    expect(findAttachment(codePost, "execution_status")?.content).toBe("SUCCESS");
    expect(codePost.message).toContain("42");
    expect(events[0]?.type).toBe("round-start");
    expect(events.at(-1)?.type).toBe("round-end");
    expect(events.filter((event) => event.type === "post-end")).toHaveLength(4);
    const statuses = events.flatMap((event) => (event.type === "post-status" ? [event.status] : []));
    expect(statuses).toEqual(["calling the model", "calling the model", "executing code", "calling the model"]);
    // The Planner's second request carries the execution result.
    expect(JSON.stringify(session.rounds[0])).toContain("Displayed value");
  });

  it("sends user messages straight to the CodeInterpreter in code-interpreter-only mode", async () => {
    const { session } = await setup([answers.python("print(1)")], { "session.roles": ["code_interpreter"] });
    expect(session.roles).toEqual(["CodeInterpreter"]);
    const round = await session.sendMessage("print one");
    expect(round.post_list.map((post) => `${post.send_from}->${post.send_to}`)).toEqual([
      "User->CodeInterpreter",
      "CodeInterpreter->User",
    ]);
  });

  it("fails a round at the internal step limit with a clear error, then runs the next round without it in the prompt", async () => {
    const loop = [
      answers.planner({ send_to: "CodeInterpreter", message: "again" }),
      answers.text("still working"),
      answers.planner({ send_to: "CodeInterpreter", message: "again" }),
      answers.text("still working"),
    ];
    const { session, model } = await setup(
      [...loop, answers.planner({ send_to: "User", message: "hello back" })],
      { "session.max_internal_chat_round_num": 4 },
    );
    const events: TaskWeaverEvent[] = [];
    const failed = await session.sendMessage("loop forever", { onEvent: (event) => events.push(event) });
    expect(failed.state).toBe("failed");
    expect(session.lastError?.code).toBe("round_limit_exceeded");
    const error = events.find((event) => event.type === "round-error");
    expect(error?.type === "round-error" && error.error.message).toMatch(/max_internal_chat_round_num = 4/);
    const next = await session.sendMessage("hello");
    expect(next.state).toBe("finished");
    const lastPrompt = JSON.stringify(model.requests.at(-1)!.messages);
    expect(lastPrompt).not.toContain("loop forever");
    expect(session.rounds).toHaveLength(2);
  });

  it("corrects a Planner answer that is not JSON and resets the correction count after success", async () => {
    const { session, model } = await setup([
      "Sure, I will ask the CodeInterpreter.",
      answers.planner({ send_to: "User", message: "fine" }),
      "still not json",
      "nope",
      answers.planner({ send_to: "User", message: "fine again" }),
    ]);
    const first = await session.sendMessage("hi");
    expect(first.state).toBe("finished");
    const correction = first.post_list[1]!;
    expect(correction.send_to).toBe("Planner");
    expect(findAttachment(correction, "invalid_response")?.content).toBe("Sure, I will ask the CodeInterpreter.");
    expect(JSON.stringify(model.requests[1]!.messages)).toContain("no JSON object");
    const second = await session.sendMessage("hi again");
    expect(second.state).toBe("finished");
  });

  it("fails the round after three Planner corrections in a row, including messages to itself", async () => {
    const { session } = await setup([
      "x",
      answers.planner({ send_to: "Planner", message: "me" }),
      '{"response": {"send_to": "User"}}',
      answers.planner({ send_to: "User", message: "never reached" }),
    ]);
    const round = await session.sendMessage("hi");
    expect(round.state).toBe("failed");
    expect(session.lastError?.code).toBe("planner_invalid_response");
    expect(session.lastError?.message).toMatch(/3 invalid answers/);
  });

  it("retries failing code with the error shown to the model, then succeeds", async () => {
    let calls = 0;
    const { session, model, executor } = await setup(
      [answers.python("1/0"), answers.python("1/1")],
      { "session.roles": ["code_interpreter"] },
      () => {
        calls += 1;
        return calls === 1
          ? { isSuccess: false, error: { name: "ZeroDivisionError", value: "division by zero", traceback: "ZeroDivisionError: division by zero" } }
          : { output: "1.0" };
      },
    );
    const round = await session.sendMessage("divide");
    expect(round.state).toBe("finished");
    expect(executor.executed).toEqual(["1/0", "1/1"]);
    expect(JSON.stringify(model.requests[1]!.messages)).toContain("ZeroDivisionError: division by zero");
    expect(round.post_list.map((post) => `${post.send_from}->${post.send_to}`)).toEqual([
      "User->CodeInterpreter",
      "CodeInterpreter->CodeInterpreter",
      "CodeInterpreter->User",
    ]);
  });

  it("reports to the requester when code retries run out", async () => {
    const { session } = await setup(
      [
        answers.planner({ send_to: "CodeInterpreter", message: "run bad" }),
        answers.python("bad"),
        answers.python("bad"),
        answers.planner({ send_to: "User", message: "It failed." }),
      ],
      { "code_interpreter.max_retry_count": 1 },
      () => ({ isSuccess: false, error: { name: "NameError", value: "bad", traceback: "NameError: bad" } }),
    );
    const round = await session.sendMessage("x");
    expect(round.state).toBe("finished");
    const report = round.post_list[3]!;
    expect(`${report.send_from}->${report.send_to}`).toBe("CodeInterpreter->Planner");
    expect(report.message).toMatch(/ran out of retries/);
    expect(findAttachment(report, "execution_status")?.content).toBe("FAILURE");
  });

  it("stops a round when its signal is aborted and keeps the session usable", async () => {
    const controller = new AbortController();
    const { session } = await setup(
      [answers.planner({ send_to: "CodeInterpreter", message: "run" }), answers.python("slow()"), answers.planner({ send_to: "User", message: "ok" })],
      {},
      () => {
        controller.abort();
        return { isSuccess: false, outcome: "interrupted" };
      },
    );
    const round = await session.sendMessage("go", { signal: controller.signal });
    expect(round.state).toBe("failed");
    expect(session.lastError?.code).toBe("aborted");
  });

  it("refuses a second message while a round is running", async () => {
    const { session } = await setup([answers.planner({ send_to: "User", message: "done" })]);
    const first = session.sendMessage("one");
    await expect(session.sendMessage("two")).rejects.toMatchObject({ code: "round_in_progress" });
    await first;
  });

  it("names the files attached to a message in the user's post", async () => {
    const { session, executor } = await setup([answers.planner({ send_to: "User", message: "seen" })]);
    const round = await session.sendMessage("read it", { files: [{ name: "a.csv", data: new TextEncoder().encode("x\n1\n") }] });
    expect(round.post_list[0]!.message).toBe("files added: a.csv.\nread it");
    expect(await executor.listFiles()).toHaveLength(1);
  });

  it("frees the runtime's own resources (a warm pool) when the app closes", async () => {
    let disposed = 0;
    const executor = createFakeExecutor(() => ({}));
    const factory = Object.assign(() => executor, {
      dispose: async () => {
        disposed += 1;
      },
    });
    const app = await createTaskWeaver({ appDir: appDir(), languageModel: createScriptedModel([]), executorFactory: factory, env: {} });
    await app.createSession();
    await app.close();
    expect(disposed).toBe(1);
    expect(executor.isStopped()).toBe(true);
  });

  it("runs a custom role written in TypeScript, registered by the library user", async () => {
    const model = createScriptedModel([
      answers.planner({ send_to: "Shouter", message: "hello there" }),
      answers.planner({ send_to: "User", message: "It said HELLO THERE." }),
    ]);
    const app = await createTaskWeaver({
      appDir: appDir({ "session.roles": ["planner", "shouter"] }),
      env: {},
      languageModel: model,
      executorFactory: () => createFakeExecutor(() => ({})),
      roles: {
        shouter: () => ({
          alias: "Shouter",
          description: "Repeats a message in capitals.",
          async reply(context) {
            const post = context.startPost();
            post.setRecipient(context.incoming.send_from);
            post.setMessage(context.incoming.message.toUpperCase());
            return post.end();
          },
        }),
      },
    });
    const session = await app.createSession();
    const round = await session.sendMessage("make it loud");
    expect(round.state).toBe("finished");
    expect(round.post_list[2]).toMatchObject({ send_from: "Shouter", send_to: "Planner", message: "HELLO THERE" });
    expect(model.requests[0]!.messages[0]!.content).toContain("- Shouter: Repeats a message in capitals.");
  });
});
