import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it, vi } from "vitest";
import { ConfigError, LlmNotConfiguredError, LlmResponseError } from "@taskweaver/core";
import { DEMO_CACHE_PATH, DEMO_PROJECT_DIR, loadDemoScript, main, type MainOptions } from "./main.js";
import { createFakeApp } from "./testing/fake-session.js";

function setup(overrides: Partial<MainOptions> = {}) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const app = createFakeApp(() => ({ posts: [{ from: "Planner", to: "User", message: "hi there" }] }));
  const createApp = vi.fn(async () => app);
  const options: MainOptions = {
    argv: [],
    env: {},
    stdin: Readable.from(["hello\n"]),
    stdout: { write: (text: string) => stdout.push(text) },
    stderr: { write: (text: string) => stderr.push(text) },
    createApp,
    cwd: "/tmp",
    ...overrides,
  };
  return { options, stdout, stderr, app, createApp, out: () => stdout.join(""), err: () => stderr.join("") };
}

/** A fake app with `code_interpreter.require_confirmation` on. */
function confirmingApp() {
  const app = createFakeApp(() => ({ posts: [{ from: "Planner", to: "User", message: "hi there" }] }));
  const get = app.config.get.bind(app.config) as (key: string) => unknown;
  (app.config as unknown as { get: (key: string) => unknown }).get = (key) =>
    key === "code_interpreter.require_confirmation" ? true : get(key);
  return app;
}

describe("main", () => {
  it("refuses the transcript with exit 2 when confirmation is on and --yes is absent", async () => {
    const app = confirmingApp();
    const run = setup({ createApp: vi.fn(async () => app) });
    expect(await main(run.options)).toBe(2);
    expect(run.err()).toContain("code_interpreter.require_confirmation is on");
    expect(run.err()).toContain("--yes");
    expect(run.out()).toBe("");
    expect(app.sessions).toHaveLength(0);
    expect(app.closed).toBe(true);
  });

  it("runs the transcript with --yes when confirmation is on, approving every execution", async () => {
    const app = confirmingApp();
    const run = setup({ argv: ["--yes"], createApp: vi.fn(async () => app) });
    expect(await main(run.options)).toBe(0);
    expect(run.out()).toContain("Human: hello\nTaskWeaver: hi there\n");
    const sent = app.sessions[0]!.messages[0]!.options as { approveExecution?: (request: unknown) => unknown };
    expect(sent.approveExecution?.({})).toEqual({ decision: "approve" });
  });

  it("prints help and the version without creating an app", async () => {
    const help = setup({ argv: ["--help"] });
    expect(await main(help.options)).toBe(0);
    expect(help.out()).toContain("Usage: taskweaver");
    const version = setup({ argv: ["--version"] });
    expect(await main(version.options)).toBe(0);
    expect(version.out()).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect(help.createApp).not.toHaveBeenCalled();
  });

  it("exits 2 with the reason on an unknown option", async () => {
    const run = setup({ argv: ["--colour"] });
    expect(await main(run.options)).toBe(2);
    expect(run.err()).toMatch(/^Error: .*--colour/);
  });

  it("passes -p and --config to the app and runs the transcript when not on a terminal", async () => {
    const run = setup({
      argv: ["-p", "proj", "--config", "llm.model=m", "--config", "a.b=1"],
      env: { X: "1" },
    });
    expect(await main(run.options)).toBe(0);
    expect(run.createApp).toHaveBeenCalledWith({
      appDir: "proj",
      configOverrides: { "llm.model": "m", "a.b": "1" },
      env: { X: "1" },
    });
    expect(run.out()).toContain("Human: hello\nTaskWeaver: hi there\n");
  });

  it("starts the interactive UI only when both stdin and stdout are terminals and --plain is absent", async () => {
    const startInteractive = vi.fn(async () => 0);
    const tty = setup({ startInteractive });
    (tty.options.stdin as { isTTY?: boolean }).isTTY = true;
    (tty.options.stdout as { isTTY?: boolean }).isTTY = true;
    await main(tty.options);
    expect(startInteractive).toHaveBeenCalledTimes(1);

    const plain = setup({ startInteractive, argv: ["--plain"] });
    (plain.options.stdin as { isTTY?: boolean }).isTTY = true;
    (plain.options.stdout as { isTTY?: boolean }).isTTY = true;
    await main(plain.options);
    const piped = setup({ startInteractive });
    (piped.options.stdin as { isTTY?: boolean }).isTTY = true;
    await main(piped.options);
    expect(startInteractive).toHaveBeenCalledTimes(1);
  });

  it("runs --demo on the sample project with the recorded model answers, labelled as a replay", async () => {
    const run = setup({ argv: ["--demo", "--config", "llm.mock.mode=fixed"] });
    expect(await main(run.options)).toBe(0);
    expect(run.createApp).toHaveBeenCalledWith({
      appDir: DEMO_PROJECT_DIR,
      configOverrides: {
        "llm.use_mock": "true",
        "llm.mock.mode": "fixed",
        "llm.mock.cache_path": DEMO_CACHE_PATH,
      },
      env: {},
    });
    expect(DEMO_CACHE_PATH.endsWith("/project/demo/mock.yaml")).toBe(true);
    expect(run.out()).toContain("[demo] This is a replay");
    // The recorded request's files go with the first message.
    const script = loadDemoScript(DEMO_PROJECT_DIR)!;
    expect(run.out()).toContain(`The recorded request: ${script.request}`);
    expect(run.app.sessions[0]!.messages[0]!.options.files).toEqual(script.files);
  });

  it("reads the demo's request and files from demo/demo.json, and nothing from a project without one", () => {
    const script = loadDemoScript(DEMO_PROJECT_DIR);
    expect(script?.request).toMatch(/\S/);
    expect(script?.files[0]).toEqual({
      name: "demo_data.csv",
      path: join(DEMO_PROJECT_DIR, "sample_data/demo_data.csv"),
    });
    expect(existsSync(script!.files[0]!.path)).toBe(true);
    expect(loadDemoScript(tmpdir())).toBeUndefined();
  });

  it("attaches --file files to the first request only, resolved against the current directory", async () => {
    const run = setup({
      argv: ["--file", "sample_data/demo_data.csv"],
      cwd: DEMO_PROJECT_DIR,
      stdin: Readable.from(["count the rows\nagain\n"]),
    });
    expect(await main(run.options)).toBe(0);
    const messages = run.app.sessions[0]!.messages;
    expect(messages[0]!.options.files).toEqual([
      { name: "demo_data.csv", path: join(DEMO_PROJECT_DIR, "sample_data/demo_data.csv") },
    ]);
    expect(messages[1]!.options.files).toBeUndefined();
  });

  it("exits 2 before starting when a --file is not a file", async () => {
    const run = setup({ argv: ["-f", "no-such.csv"] });
    expect(await main(run.options)).toBe(2);
    expect(run.err()).toBe("Error: --file /tmp/no-such.csv is not a file.\n");
    expect(run.createApp).not.toHaveBeenCalled();
  });

  it("hands the demo script to the interactive UI", async () => {
    const startInteractive = vi.fn(async () => 0);
    const run = setup({ startInteractive, argv: ["--demo"] });
    (run.options.stdin as { isTTY?: boolean }).isTTY = true;
    (run.options.stdout as { isTTY?: boolean }).isTTY = true;
    await main(run.options);
    expect(startInteractive).toHaveBeenCalledWith({
      app: run.app,
      demo: true,
      demoScript: loadDemoScript(DEMO_PROJECT_DIR),
      command: expect.stringMatching(/taskweaver$/),
      files: [],
    });
  });

  it("tells which keys to set, naming the config file of -p, when no model is configured", async () => {
    const run = setup({
      argv: ["-p", "proj"],
      createApp: async () => {
        throw new LlmNotConfiguredError("no model", ["llm.model"]);
      },
    });
    expect(await main(run.options)).toBe(2);
    expect(run.err()).toContain("/tmp/proj/taskweaver_config.json");
    expect(run.err()).toMatch(/llm\.model\s+\(LLM_MODEL\)/);
    expect(run.out()).toBe("");
  });

  it("prints a config error's message and a bad --config assignment's, with exit 2", async () => {
    const bad = setup({
      createApp: async () => {
        throw new ConfigError("Config key x is wrong.");
      },
    });
    expect(await main(bad.options)).toBe(2);
    expect(bad.err()).toBe("Error: Config key x is wrong.\n");
    const assignment = setup({ argv: ["--config", "novalue"] });
    expect(await main(assignment.options)).toBe(2);
    expect(assignment.err()).toContain('"novalue" is not a config assignment');
    expect(assignment.createApp).not.toHaveBeenCalled();
  });

  it("exits 1 when a round fails", async () => {
    const app = createFakeApp(() => ({ posts: [], failure: new LlmResponseError("broken") }));
    const run = setup({ createApp: async () => app });
    expect(await main(run.options)).toBe(1);
    expect(run.out()).toContain("TaskWeaver: [error] broken");
  });
});
