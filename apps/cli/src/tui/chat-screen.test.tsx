import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LlmResponseError, MockAnswerMissingError } from "@taskweaver/core";
import { render } from "ink-testing-library";
import { describe, expect, it } from "vitest";
import { COUNT_ROWS_ROUND, createFakeApp } from "../testing/fake-session.js";
import { ChatScreen, CLEAR_SCREEN } from "./chat-screen.js";
import { createChatController } from "./controller.js";
import { loadHistory } from "./history.js";

const tick = (ms = 40) => new Promise((resolve) => setTimeout(resolve, ms));

async function setup(
  options: {
    withSave?: boolean;
    reply?: Parameters<typeof createFakeApp>[0];
    demo?: boolean;
    demoScript?: { request: string; files: { name: string; path: string }[] };
  } = {},
) {
  const app = createFakeApp(options.reply ?? (() => ({ posts: COUNT_ROWS_ROUND })), {
    withSave: options.withSave,
  });
  const directory = mkdtempSync(join(tmpdir(), "tw-tui-"));
  let exited = 0;
  const controller = createChatController({
    app,
    demo: options.demo,
    demoScript: options.demoScript,
    history: loadHistory(join(directory, "history")),
    cwd: directory,
    onExit: () => (exited += 1),
  });
  const view = render(<ChatScreen controller={controller} />);
  await controller.start();
  await tick();
  const type = async (text: string) => {
    view.stdin.write(text);
    await tick();
    view.stdin.write("\r");
    await tick(80);
  };
  // Static items are written once; the whole output is what a terminal would show.
  const screen = () => view.frames.join("\n");
  return { app, controller, view, type, screen, directory, exited: () => exited };
}

describe("ChatScreen", () => {
  it("opens with the banner and greeting, then shows a request, its blocks and the answer", async () => {
    const { type, screen, app } = await setup();
    expect(screen()).toContain("T A S K W E A V E R");
    expect(screen()).toContain("TaskWeaver: I am TaskWeaver, an AI assistant.");
    await type("count the rows");
    const text = screen();
    expect(text).toContain("Human: count the rows");
    for (const header of [
      "[INIT_PLAN]",
      "[PLANNER->CODEINTERPRETER]",
      "[PYTHON]",
      "[STATUS]",
      "[RESULT]",
      "[CODEINTERPRETER->PLANNER]",
    ]) {
      expect(text).toContain(`>>> ${header}`);
    }
    expect(text).toContain("TaskWeaver: demo_data.csv has 100 rows.");
    expect(app.sessions[0]!.messages[0]!.message).toBe("count the rows");
  });

  it("answers an empty line and an unknown command with a short hint", async () => {
    const { type, screen, app } = await setup();
    await type("");
    expect(screen()).toContain("Type a request, or /help for commands.");
    await type("/frobnicate");
    expect(screen()).toContain("Unknown command /frobnicate. Type /help for the commands.");
    expect(app.sessions[0]!.messages).toHaveLength(0);
  });

  it("lists the commands on /help and describes the session on /info", async () => {
    const { type, screen, app } = await setup();
    await type("/help");
    expect(screen()).toContain("/load <file>");
    expect(screen()).toContain("/reset");
    await type("/info");
    expect(screen()).toContain(`Session:  ${app.sessions[0]!.id}`);
    expect(screen()).toContain("Roles:    Planner, CodeInterpreter");
    expect(screen()).toContain("Model:    fake-model");
    expect(screen()).toContain("Runtime:  local kernel");
  });

  it("attaches a /load-ed file to the next message only", async () => {
    const { type, screen, app, directory } = await setup();
    writeFileSync(join(directory, "data.csv"), "a,b\n1,2\n");
    await type("/load data.csv");
    expect(screen()).toContain("Attached data.csv; it goes with your next message.");
    await type("/file missing.csv");
    expect(screen()).toContain(`No such file: ${join(directory, "missing.csv")}`);
    await type("read it");
    await type("again");
    const [first, second] = app.sessions[0]!.messages;
    expect(first!.options.files).toEqual([{ name: "data.csv", path: join(directory, "data.csv") }]);
    expect(second!.options.files).toEqual([]);
    expect(screen()).toContain("(attached: data.csv)");
  });

  it("starts a new session on /reset and stops the old one", async () => {
    const { type, screen, app } = await setup();
    await type("/reset");
    expect(app.sessions).toHaveLength(2);
    expect(app.sessions[0]!.stopped).toBe(true);
    expect(screen()).toContain(`New session ${app.sessions[1]!.id}`);
  });

  it("saves for experience when the session can, and says so when it cannot", async () => {
    const withSave = await setup({ withSave: true });
    await withSave.type("/save");
    expect(withSave.app.sessions[0]!.saved).toBe(1);
    expect(withSave.screen()).toContain("as experience");
    const without = await setup();
    await without.type("/save");
    expect(without.screen()).toContain("Saving experience is not available");
  });

  it("stops the running round on Ctrl-C and keeps the session for the next request", async () => {
    let calls = 0;
    const { view, type, screen, app, exited } = await setup({
      reply: () => (++calls === 1 ? { posts: [], waitForInterrupt: true } : { posts: COUNT_ROWS_ROUND }),
    });
    await type("sleep a while");
    expect(view.lastFrame()).toContain("CodeInterpreter is executing code");
    // A request typed meanwhile is refused but kept in the input.
    await type("too early");
    expect(screen()).toContain("A round is running: wait for the answer, or press Ctrl-C to stop it.");
    expect(view.lastFrame()).toContain("Human: too early");
    view.stdin.write("\u0015");
    await tick();
    view.stdin.write("\u0003");
    await tick(100);
    expect(app.sessions[0]!.interrupted).toBe(1);
    expect(screen()).toContain("Stopped. The session and its variables are kept");
    expect(exited()).toBe(0);
    await type("count the rows");
    expect(app.sessions).toHaveLength(1);
    expect(app.sessions[0]!.messages.map((entry) => entry.message)).toEqual([
      "sleep a while",
      "count the rows",
    ]);
    expect(screen()).toContain("TaskWeaver: demo_data.csv has 100 rows.");
  });

  it("leaves on /exit and its aliases, closing the app", async () => {
    for (const command of ["/exit", "/quit", "/bye"]) {
      const { type, app, exited } = await setup();
      await type(command);
      expect(app.closed).toBe(true);
      expect(exited()).toBe(1);
    }
  });

  it("leaves even when stopping the kernel hangs, after the close timeout", async () => {
    const app = createFakeApp(() => ({ posts: [] }));
    app.close = () => new Promise<void>(() => undefined);
    let exited = 0;
    const controller = createChatController({
      app,
      history: loadHistory(join(mkdtempSync(join(tmpdir(), "tw-tui-")), "history")),
      closeTimeoutMs: 50,
      onExit: () => (exited += 1),
    });
    await controller.start();
    await controller.exit();
    expect(exited).toBe(1);
    expect(controller.getState().phase).toBe("exited");
    expect(
      controller
        .getState()
        .items.some((item) => item.kind === "notice" && item.text.includes("did not stop in time")),
    ).toBe(true);
  });

  it("leaves on Ctrl-C at an empty prompt", async () => {
    const { view, app, exited } = await setup();
    view.stdin.write("\u0003");
    await tick(80);
    expect(app.closed).toBe(true);
    expect(exited()).toBe(1);
  });

  it("shows the full text of a folded result on /expand", async () => {
    const long = Array.from({ length: 30 }, (_, index) => `line ${index}`).join("\n");
    const { type, screen } = await setup({
      reply: () => ({
        posts: [
          {
            from: "CodeInterpreter",
            to: "User",
            message: "done",
            attachments: [{ type: "execution_result", content: long }],
          },
        ],
      }),
    });
    await type("/expand");
    expect(screen()).toContain("There is no folded result to expand.");
    await type("print a lot");
    expect(screen()).toContain("18 more lines");
    expect(screen()).not.toContain("line 29");
    await type("/expand");
    expect(screen()).toContain("line 29");
  });

  it("shows a request that failed as an error line", async () => {
    const { type, screen } = await setup({
      reply: () => ({ posts: [], failure: new LlmResponseError("The model is down.") }),
    });
    await type("anything");
    expect(screen()).toContain("TaskWeaver: [error] The model is down.");
  });

  it("in a demo, says what the recording knows when a request has no recorded answer", async () => {
    const { type, screen, view } = await setup({
      demo: true,
      demoScript: { request: "count the rows of demo_data.csv", files: [] },
      reply: () => ({
        posts: [],
        failure: new MockAnswerMissingError("No recorded answer for cache key 1234abcd.", {
          cachePath: "/project/demo/mock.yaml",
          requestPreview: "hello",
        }),
      }),
    });
    // The input holds the recorded request; replace it with the user's own.
    view.stdin.write("\u0015");
    await tick();
    await type("hello");
    const text = screen().replace(/\n\s*/g, " ");
    expect(text).toContain("knows only its recorded request");
    expect(text).toContain("count the rows of demo_data.csv");
    expect(text).toContain("LLM_API_KEY and LLM_MODEL");
    expect(text).not.toContain("cache key");
  });

  it("labels a demo as a replay", async () => {
    const { screen } = await setup({ demo: true });
    expect(screen()).toContain("[demo] A replay of a recorded conversation");
    expect(screen()).toContain("[demo replay]");
  });

  it("offers the demo's recorded request in the input, with its files attached", async () => {
    const files = [{ name: "demo_data.csv", path: "/project/sample_data/demo_data.csv" }];
    const { view, type, app } = await setup({
      demo: true,
      demoScript: { request: "Which region leads?", files },
    });
    expect(view.lastFrame()).toContain("Human: Which region leads?");
    expect(view.lastFrame()).toContain("Attached to the next message: demo_data.csv");
    await type("");
    expect(app.sessions[0]!.messages[0]).toMatchObject({
      message: "Which region leads?",
      options: { files },
    });
  });

  it("clears the screen on /clear and keeps working", async () => {
    const { type, view, app } = await setup();
    await type("/help");
    const before = view.frames.length;
    await type("/clear");
    expect(view.frames.slice(before).join("")).toContain(CLEAR_SCREEN);
    await type("count the rows");
    expect(view.lastFrame()).toContain("Human:");
    expect(app.sessions[0]!.messages).toHaveLength(1);
  });

  it("remembers requests in the history file", async () => {
    const { type, directory } = await setup();
    await type("count the rows");
    expect(loadHistory(join(directory, "history")).entries).toEqual(["count the rows"]);
  });
});
