import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createTaskWeaver } from "../app.js";
import { ExecutorUnavailableError, KernelDiedError, RoleError, TaskWeaverError } from "../errors.js";
import type { TaskWeaverEvent } from "../events/types.js";
import type { CodeExecutor } from "../executor/contract.js";
import type { Role, RoleFactory } from "../roles/role.js";
import { createFakeExecutor } from "../testing/fake-executor.js";
import { answers, createScriptedModel } from "../testing/scripted-model.js";

/**
 * The session's promise to every frontend: a round's events start with `round-start` and end
 * with one `round-end` or `round-error`, for every way a round can fail.
 */

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

async function setup(options: {
  script?: Parameters<typeof createScriptedModel>[0];
  config?: Record<string, unknown>;
  executor?: () => CodeExecutor | Promise<CodeExecutor>;
  roles?: Record<string, RoleFactory>;
}) {
  const directory = mkdtempSync(join(tmpdir(), "tw-round-events-"));
  directories.push(directory);
  writeFileSync(join(directory, "taskweaver_config.json"), JSON.stringify(options.config ?? {}));
  const app = await createTaskWeaver({
    appDir: directory,
    env: {},
    languageModel: createScriptedModel(options.script ?? []),
    executorFactory: options.executor ?? (() => createFakeExecutor(() => ({ output: "42" }))),
    roles: options.roles,
  });
  const session = await app.createSession({ warmUp: false });
  const events: TaskWeaverEvent[] = [];
  session.subscribe((event) => events.push(event));
  return { app, session, events };
}

/** Checks the frame of a round's events and returns the terminal one. */
function expectFramed(events: readonly TaskWeaverEvent[], roundId: string): TaskWeaverEvent {
  expect(events[0]).toMatchObject({ type: "round-start", roundId });
  const terminal = events.filter((event) => event.type === "round-end" || event.type === "round-error");
  expect(terminal).toHaveLength(1);
  expect(events.at(-1)).toBe(terminal[0]);
  expect(events.every((event) => event.roundId === roundId)).toBe(true);
  return terminal[0]!;
}

function expectRoundError(events: readonly TaskWeaverEvent[], roundId: string, code: string) {
  const terminal = expectFramed(events, roundId);
  expect(terminal).toMatchObject({ type: "round-error", error: { code }, round: { id: roundId, state: "failed" } });
}

// A function: the scripted model takes its answers out of the array it is given.
const plannerToShouter = () => [answers.planner({ send_to: "Shouter", message: "go" })];

/** A session role "shouter" (alias Shouter) that replies with `reply`. */
function shouter(reply: Role["reply"]): Record<string, RoleFactory> {
  return { shouter: () => ({ alias: "Shouter", description: "Test role.", reply }) };
}
const shouterConfig = { "session.roles": ["planner", "shouter"] };

describe("round events", () => {
  it("frame a finished round: round-start first, round-end last", async () => {
    const { session, events } = await setup({ script: [answers.planner({ send_to: "User", message: "hi" })] });
    const round = await session.sendMessage("hello");
    expect(round.state).toBe("finished");
    expect(expectFramed(events, round.id).type).toBe("round-end");
  });

  it("end with round-error when the signal is aborted before the round starts", async () => {
    const { session, events } = await setup({ script: [answers.planner({ send_to: "User", message: "hi" })] });
    const controller = new AbortController();
    controller.abort();
    const round = await session.sendMessage("hello", { signal: controller.signal });
    expectRoundError(events, round.id, "aborted");
  });

  it("end with round-error when the round is aborted while the model answers", async () => {
    const controller = new AbortController();
    const { session, events } = await setup({
      script: [
        () => {
          controller.abort();
          return answers.planner({ send_to: "User", message: "too late" });
        },
      ],
    });
    const round = await session.sendMessage("hello", { signal: controller.signal });
    expectRoundError(events, round.id, "aborted");
  });

  it("end with round-error when the session is stopped during the round", async () => {
    let release!: () => void;
    const { session, events } = await setup({
      config: shouterConfig,
      script: plannerToShouter(),
      roles: shouter(async (context) => {
        await new Promise<void>((resolve) => {
          release = resolve;
          context.signal.addEventListener("abort", () => resolve(), { once: true });
        });
        const post = context.startPost();
        post.setRecipient("Planner");
        return post.end();
      }),
    });
    const pending = session.sendMessage("hello");
    await vi.waitFor(() => expect(release).toBeDefined());
    await session.stop();
    const round = await pending;
    expectRoundError(events, round.id, "aborted");
  });

  it("end with round-error at the internal step limit", async () => {
    const { session, events } = await setup({
      config: { "session.max_internal_chat_round_num": 2 },
      script: [
        answers.planner({ send_to: "CodeInterpreter", message: "again" }),
        answers.text("still working"),
        answers.planner({ send_to: "CodeInterpreter", message: "again" }),
      ],
    });
    const round = await session.sendMessage("loop");
    expectRoundError(events, round.id, "round_limit_exceeded");
  });

  it("end with round-error when a role gives up with a RoleError", async () => {
    const { session, events } = await setup({
      config: shouterConfig,
      script: plannerToShouter(),
      roles: shouter(async () => {
        throw new RoleError("planner_invalid_response", "gave up");
      }),
    });
    const round = await session.sendMessage("hello");
    expectRoundError(events, round.id, "planner_invalid_response");
  });

  it("end with round-error when a role throws a plain Error, wrapped as internal_error", async () => {
    const { session, events } = await setup({
      config: shouterConfig,
      script: plannerToShouter(),
      roles: shouter(async (context) => {
        context.startPost().status("working");
        throw new Error("bug in a custom role");
      }),
    });
    const round = await session.sendMessage("hello");
    expectRoundError(events, round.id, "internal_error");
    expect(session.lastError?.message).toBe("bug in a custom role");
  });

  it("end with round-error when a message goes to a role the session does not have", async () => {
    const { session, events } = await setup({
      config: shouterConfig,
      script: plannerToShouter(),
      roles: shouter(async (context) => {
        const post = context.startPost();
        post.setRecipient("Nobody");
        return post.end();
      }),
    });
    const round = await session.sendMessage("hello");
    expectRoundError(events, round.id, "unknown_role");
  });

  it("end with round-error when the executor cannot start for the attached files", async () => {
    const { session, events } = await setup({
      executor: () => {
        throw new ExecutorUnavailableError("no Python with ipykernel");
      },
    });
    const round = await session.sendMessage("read it", { files: [{ name: "a.csv", data: new Uint8Array([49]) }] });
    expectRoundError(events, round.id, "executor_unavailable");
  });

  it("end with round-error when the kernel dies while code runs", async () => {
    const executor = createFakeExecutor(() => ({}));
    executor.execute = async () => {
      throw new KernelDiedError("the kernel died");
    };
    const { session, events } = await setup({
      executor: () => executor,
      script: [answers.planner({ send_to: "CodeInterpreter", message: "run" }), answers.python("1/0")],
    });
    const round = await session.sendMessage("run it");
    expectRoundError(events, round.id, "kernel_died");
  });

  it("keep the frame for other listeners when a listener throws on every event", async () => {
    const { session, events } = await setup({ script: [answers.planner({ send_to: "User", message: "hi" })] });
    session.subscribe(() => {
      throw new Error("broken UI");
    });
    const own: TaskWeaverEvent[] = [];
    const round = await session.sendMessage("hello", {
      onEvent: (event) => {
        own.push(event);
        throw new Error("broken onEvent");
      },
    });
    expect(round.state).toBe("finished");
    expect(expectFramed(events, round.id).type).toBe("round-end");
    expect(own).toEqual(events);
  });

  it("emit nothing after round-error, even when a role goes on after the abort", async () => {
    const controller = new AbortController();
    let late: (() => void) | undefined;
    let lateDone!: Promise<void>;
    const { session, events } = await setup({
      config: shouterConfig,
      script: plannerToShouter(),
      roles: shouter(async (context) => {
        const post = context.startPost();
        controller.abort();
        // Ignores the abort and keeps streaming after the round ended.
        lateDone = new Promise((resolve) => {
          late = () => {
            post.status("still busy");
            post.setRecipient("Planner");
            post.end();
            resolve();
          };
        });
        throw new Error("interrupted");
      }),
    });
    const round = await session.sendMessage("hello", { signal: controller.signal });
    late!();
    await lateDone;
    expectRoundError(events, round.id, "aborted");
  });

  it("reject without any event only when no round starts", async () => {
    const { session, events } = await setup({ script: [answers.planner({ send_to: "User", message: "one" })] });
    const first = session.sendMessage("one");
    await expect(session.sendMessage("two")).rejects.toMatchObject({ code: "round_in_progress" });
    const round = await first;
    expectFramed(events, round.id);
    await session.stop();
    const count = events.length;
    await expect(session.sendMessage("three")).rejects.toMatchObject({ code: "session_stopped" });
    expect(events).toHaveLength(count);
  });
});

describe("errors leaving the app and the session", () => {
  it("are TaskWeaverErrors when an executor factory throws a plain Error", async () => {
    const { session } = await setup({
      executor: () => {
        throw new Error("factory bug");
      },
    });
    const failure = await session.executor().catch((error: unknown) => error);
    expect(TaskWeaverError.isInstance(failure)).toBe(true);
    expect(failure).toMatchObject({ code: "internal_error", message: "factory bug" });
  });

  it("are TaskWeaverErrors when a role factory throws a plain Error", async () => {
    const directory = mkdtempSync(join(tmpdir(), "tw-round-events-"));
    directories.push(directory);
    writeFileSync(join(directory, "taskweaver_config.json"), JSON.stringify({ "session.roles": ["broken"] }));
    const app = await createTaskWeaver({
      appDir: directory,
      env: {},
      languageModel: createScriptedModel([]),
      executorFactory: () => createFakeExecutor(() => ({})),
      roles: {
        broken: () => {
          throw new Error("role factory bug");
        },
      },
    });
    const failure = await app.createSession().catch((error: unknown) => error);
    expect(TaskWeaverError.isInstance(failure)).toBe(true);
    expect(failure).toMatchObject({ code: "internal_error", message: "role factory bug" });
  });

  it("are TaskWeaverErrors when saving experience fails on the file system", async () => {
    const directory = mkdtempSync(join(tmpdir(), "tw-round-events-"));
    directories.push(directory);
    const blocker = join(directory, "not-a-folder");
    writeFileSync(blocker, "");
    const { session } = await setup({
      config: { "session.experience_dir": join(blocker, "experience") },
      script: [answers.planner({ send_to: "User", message: "hi" })],
    });
    await session.sendMessage("hello");
    const failure = await session.saveExperience().catch((error: unknown) => error);
    expect(TaskWeaverError.isInstance(failure)).toBe(true);
    expect(failure).toMatchObject({ code: "internal_error", cause: { code: "ENOTDIR" } });
  });
});
