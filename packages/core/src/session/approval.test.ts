import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTaskWeaver } from "../app.js";
import type { TaskWeaverEvent } from "../events/types.js";
import { findAttachment } from "../memory/factories.js";
import { callsPlugin, type ApproveExecution, type ExecutionApprovalRequest } from "../roles/approval.js";
import { createFakeExecutor } from "../testing/fake-executor.js";
import { answers, createScriptedModel } from "../testing/scripted-model.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

async function setup(options: {
  script: Parameters<typeof createScriptedModel>[0];
  config?: Record<string, unknown>;
  approveExecution?: ApproveExecution;
  plugins?: Record<string, string>;
}) {
  const directory = mkdtempSync(join(tmpdir(), "tw-approval-"));
  directories.push(directory);
  const pluginDirectory = join(directory, "plugins");
  mkdirSync(pluginDirectory);
  for (const [name, content] of Object.entries(options.plugins ?? {})) writeFileSync(join(pluginDirectory, name), content);
  writeFileSync(
    join(directory, "taskweaver_config.json"),
    JSON.stringify({
      "session.roles": ["code_interpreter"],
      "code_generator.use_example": false,
      "code_interpreter.require_confirmation": true,
      ...options.config,
    }),
  );
  const model = createScriptedModel(options.script);
  const executor = createFakeExecutor(() => ({ output: "42" }));
  const app = await createTaskWeaver({
    appDir: directory,
    env: {},
    languageModel: model,
    executorFactory: () => executor,
    approveExecution: options.approveExecution,
  });
  const session = await app.createSession({ warmUp: false });
  const events: TaskWeaverEvent[] = [];
  session.subscribe((event) => events.push(event));
  return { app, session, events, model, executor };
}

/** The text of the last message of the model's n-th request. */
function lastMessageOf(model: ReturnType<typeof createScriptedModel>, index: number): string {
  const content = model.requests[index]!.messages.at(-1)!.content;
  return typeof content === "string" ? content : JSON.stringify(content);
}

function approvalEvents(events: readonly TaskWeaverEvent[]) {
  return events.filter((event) => event.type.startsWith("execution-approval-"));
}

describe("execution approval", () => {
  it("runs the code once it is approved, after asking with the code, role and ids", async () => {
    const requests: ExecutionApprovalRequest[] = [];
    const { session, events, executor } = await setup({
      script: [answers.python("print(1)")],
      approveExecution: (request) => {
        requests.push(request);
        expect(executor.executed).toEqual([]);
        return { decision: "approve" };
      },
    });
    const round = await session.sendMessage("print one");
    expect(round.state).toBe("finished");
    expect(executor.executed).toEqual(["print(1)"]);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ code: "print(1)", problems: [], role: "CodeInterpreter", sessionId: session.id, roundId: round.id });
    const [request, result] = approvalEvents(events);
    expect(request).toMatchObject({ type: "execution-approval-request", approvalId: requests[0]!.approvalId, code: "print(1)", problems: [] });
    expect(result).toMatchObject({ type: "execution-approval-result", approvalId: requests[0]!.approvalId, decision: "approved" });
    expect(findAttachment(round.post_list[1]!, "execution_status")?.content).toBe("SUCCESS");
  });

  it("does not run rejected code, tells the model the user declined with the reason, and the round goes on", async () => {
    const { session, events, executor, model } = await setup({
      script: [answers.python("import os; os.remove('data.csv')"), answers.text("Understood, I will not delete it.")],
      approveExecution: () => ({ decision: "reject", reason: "do not delete my data" }),
    });
    const round = await session.sendMessage("clean up");
    expect(round.state).toBe("finished");
    expect(executor.executed).toEqual([]);
    expect(lastMessageOf(model, 1)).toContain("The user declined to run this code. Their reason: do not delete my data");
    expect(approvalEvents(events).at(-1)).toMatchObject({ decision: "rejected", reason: "do not delete my data" });
    expect(findAttachment(round.post_list[1]!, "execution_status")?.content).toBe("NONE");
    expect(round.post_list.at(-1)).toMatchObject({ send_to: "User", message: "Understood, I will not delete it." });
  });

  it("runs the edited code and records it as the post's code", async () => {
    const { session, events, executor, model } = await setup({
      script: [answers.python("print(1)")],
      approveExecution: () => ({ decision: "approve", code: "print(2)" }),
    });
    const round = await session.sendMessage("print one");
    expect(round.state).toBe("finished");
    expect(executor.executed).toEqual(["print(2)"]);
    const post = round.post_list[1]!;
    expect(findAttachment(post, "reply_content")?.content).toBe("print(2)");
    expect(post.message).toContain("print(2)");
    expect(post.message).not.toContain("print(1)");
    expect(approvalEvents(events).at(-1)).toMatchObject({ decision: "edited", code: "print(2)" });
    const ended = events.find((event) => event.type === "post-end" && event.post.id === post.id);
    expect(ended?.type === "post-end" && findAttachment(ended.post, "reply_content")?.content).toBe("print(2)");
    expect(model.remaining()).toBe(0);
  });

  it("rejects as timed out when no decision comes within code_interpreter.confirmation_timeout", async () => {
    let handlerSignal: AbortSignal | undefined;
    const { session, events, executor, model } = await setup({
      config: { "code_interpreter.confirmation_timeout": 0.05 },
      script: [answers.python("print(1)"), answers.text("Nobody approved it.")],
      approveExecution: ({ signal }) => {
        handlerSignal = signal;
        return new Promise(() => {});
      },
    });
    const started = Date.now();
    const round = await session.sendMessage("print one");
    expect(Date.now() - started).toBeLessThan(5000);
    expect(round.state).toBe("finished");
    expect(executor.executed).toEqual([]);
    expect(handlerSignal?.aborted).toBe(true);
    expect(approvalEvents(events).at(-1)).toMatchObject({ decision: "timed_out", reason: "no answer came within 0.05 s" });
    expect(lastMessageOf(model, 1)).toContain("The code was not run: it needs approval, but no answer came within");
  });

  it("stops the round cleanly when it is aborted while waiting", async () => {
    const controller = new AbortController();
    let handlerSignal: AbortSignal | undefined;
    const { session, events, executor } = await setup({ script: [answers.python("print(1)")] });
    const round = await session.sendMessage("print one", {
      signal: controller.signal,
      approveExecution: ({ signal }) => {
        handlerSignal = signal;
        setTimeout(() => controller.abort(), 10);
        return new Promise(() => {});
      },
    });
    expect(round.state).toBe("failed");
    expect(executor.executed).toEqual([]);
    expect(handlerSignal?.aborted).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: "round-error", error: { code: "aborted" } });
    expect(approvalEvents(events).map((event) => event.type)).toEqual(["execution-approval-request"]);
  });

  it("rejects code that needs approval when no approveExecution is given, and never runs it", async () => {
    const { session, events, executor, model } = await setup({
      script: [answers.python("print(1)"), answers.text("I cannot run code here.")],
    });
    const round = await session.sendMessage("print one");
    expect(round.state).toBe("finished");
    expect(executor.executed).toEqual([]);
    expect(approvalEvents(events).at(-1)).toMatchObject({ decision: "rejected", reason: expect.stringContaining("no one can approve code here") });
    expect(lastMessageOf(model, 1)).toContain("no one can approve code here");
  });

  it("asks before code that calls a plugin with requires_confirmation, even with the global setting off", async () => {
    const asked: string[] = [];
    const { session, executor } = await setup({
      config: { "code_interpreter.require_confirmation": false },
      plugins: {
        "send_mail.yaml": [
          "name: send_mail",
          "requires_confirmation: true",
          "description: Sends an e-mail.",
          "parameters:",
          "  - name: to",
          "    type: str",
          "    required: true",
          "returns:",
          "  - name: sent",
          "    type: bool",
        ].join("\n"),
        "send_mail.py": "def send_mail(to):\n    return True\n",
      },
      script: [answers.python("x = 1"), answers.python("send_mail('boss@example.com')")],
      approveExecution: ({ code }) => {
        asked.push(code);
        return { decision: "approve" };
      },
    });
    await session.sendMessage("set x");
    expect(asked).toEqual([]);
    await session.sendMessage("mail the boss");
    expect(asked).toEqual(["send_mail('boss@example.com')"]);
    expect(executor.executed).toEqual(["x = 1", "send_mail('boss@example.com')"]);
  });

  it("fails the round without running code when approveExecution throws or answers nonsense", async () => {
    for (const approveExecution of [
      () => {
        throw new Error("approval service down");
      },
      () => ({ decision: "maybe" }) as never,
    ]) {
      const { session, events, executor } = await setup({ script: [answers.python("print(1)")], approveExecution });
      const round = await session.sendMessage("print one");
      expect(round.state).toBe("failed");
      expect(executor.executed).toEqual([]);
      expect(events.at(-1)?.type).toBe("round-error");
    }
  });

  it("uses the approveExecution of sendMessage over the app's", async () => {
    const { session, executor } = await setup({
      script: [answers.python("print(1)")],
      approveExecution: () => ({ decision: "reject" }),
    });
    const round = await session.sendMessage("print one", { approveExecution: () => ({ decision: "approve" }) });
    expect(round.state).toBe("finished");
    expect(executor.executed).toEqual(["print(1)"]);
  });
});

describe("callsPlugin", () => {
  it("finds a plugin named as a whole word, not as an attribute or inside another name", () => {
    expect(callsPlugin("result = send_mail(to)", ["send_mail"])).toBe("send_mail");
    expect(callsPlugin("f = send_mail\nf('x')", ["send_mail"])).toBe("send_mail");
    expect(callsPlugin("client.send_mail(to)", ["send_mail"])).toBeUndefined();
    expect(callsPlugin("send_mail_later(to)", ["send_mail"])).toBeUndefined();
    expect(callsPlugin("resend_mail(to)", ["send_mail"])).toBeUndefined();
    expect(callsPlugin("print(1)", [])).toBeUndefined();
  });
});
