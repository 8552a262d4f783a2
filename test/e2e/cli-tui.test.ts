// The Ink TUI in a real pseudo-terminal (a private tmux server): the real CLI through tsx, the
// real OpenAI client against the fake server, a real Python kernel. Keys are typed as a user
// would; assertions read the screen as the user sees it.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  cleanEnvironment,
  createTestAppDir,
  REPO_ROOT,
  startFakeOpenAIServer,
  TEST_PYTHON,
  type FakeOpenAIServer,
  type TestAppDir,
  plannerAnswer,
  pythonAnswer,
  type ScriptedPlan,
} from "../src/index.js";
import { startTerminal, type Terminal } from "../src/pty.js";
import { prepareOriginalProject } from "./original-project-support.js";

const PLAN: ScriptedPlan = { reasoning: "A small computation, then the answer.", steps: ["compute it", "report it"] };
const planner = (sendTo: string, message: string) => plannerAnswer(sendTo, message, PLAN);
const python = (code: string, thought = "Python computes it.") => pythonAnswer(code, thought);

let server: FakeOpenAIServer;
const cleanups: (() => Promise<void> | void)[] = [];

// A fresh server per test, so answers a failed test left queued never reach the next one.
beforeEach(async () => {
  server = await startFakeOpenAIServer({ chunkSize: 12 });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await server.close();
});

function appDir(config: Record<string, unknown> = {}): TestAppDir {
  const dir = createTestAppDir({
    config: { "llm.api_base": server.url, "llm.api_key": "test-key", "llm.model": "fake-model", ...config },
  });
  cleanups.push(() => dir.remove());
  return dir;
}

/**
 * A person at a terminal is not a CI job: Ink draws only a final frame when it sees CI
 * variables (CI, CONTINUOUS_INTEGRATION, CI_*), and CI runs these tests with CI=true.
 */
function withoutCiMarkers(env: Record<string, string | undefined>): Record<string, string | undefined> {
  return Object.fromEntries(
    Object.entries(env).filter(([key]) => key !== "CI" && key !== "CONTINUOUS_INTEGRATION" && !key.startsWith("CI_")),
  );
}

/** Starts `pnpm taskweaver`'s command in a terminal, with a private home for the history. */
async function startCli(args: string[], options: { cwd?: string } = {}): Promise<{ terminal: Terminal; home: string }> {
  const home = mkdtempSync(join(tmpdir(), "tw-home-"));
  const terminal = await startTerminal({
    command: [join(REPO_ROOT, "node_modules/.bin/tsx"), join(REPO_ROOT, "apps/cli/src/cli.tsx"), ...args],
    cwd: options.cwd ?? REPO_ROOT,
    env: withoutCiMarkers({ ...cleanEnvironment({ HOME: home, TERM: "xterm-256color" }), NO_COLOR: undefined, TMUX: undefined }),
    columns: 110,
    rows: 45,
  });
  cleanups.push(() => terminal.close());
  return { terminal, home };
}

const READY = "Enter: send";

/** The screen from the last occurrence of `marker` on, to look at the newest round only. */
function after(screen: string, marker: string): string {
  const index = screen.lastIndexOf(marker);
  return index === -1 ? "" : screen.slice(index);
}

describe("the TUI in a pseudo-terminal", { timeout: 300_000 }, () => {
  it("streams a round's blocks and ends with the TaskWeaver answer", async () => {
    const dir = appDir();
    server.enqueue(
      planner("CodeInterpreter", "Compute 6 * 7 in Python."),
      {
        content: python("product = 6 * 7\nproduct", "I multiply the two numbers in Python and show the product."),
        chunkSize: 6,
        chunkDelayMs: 60,
      },
      planner("User", "6 * 7 is 42."),
    );
    const { terminal } = await startCli(["-p", dir.path]);
    await terminal.waitFor(READY, 150_000);
    await terminal.type("what is 6 * 7?");
    await terminal.press("Enter");
    // While the slow answer streams, its first block is on screen and the round is not over.
    const during = await terminal.waitFor(/>>> \[THOUGHT\]\nI multiply/, 90_000);
    expect(during).toContain("Human: what is 6 * 7?");
    expect(during).not.toContain("TaskWeaver: 6 * 7 is 42.");
    const screen = await terminal.waitFor("TaskWeaver: 6 * 7 is 42.", 90_000);
    const round = after(screen, "Human: what is 6 * 7?");
    const order = [
      ">>> [INIT_PLAN]",
      ">>> [PLANNER->CODEINTERPRETER]",
      ">>> [PYTHON]\nproduct = 6 * 7\nproduct",
      ">>> [STATUS]\nSUCCESS",
      ">>> [RESULT]",
      ">>> [CODEINTERPRETER->PLANNER]",
      "TaskWeaver: 6 * 7 is 42.",
    ];
    let position = 0;
    for (const piece of order) {
      const found = round.indexOf(piece, position);
      expect(found, `${piece} in:\n${round}`).toBeGreaterThanOrEqual(position);
      position = found + piece.length;
    }
    expect(after(round, ">>> [RESULT]")).toMatch(/^>>> \[RESULT\][\s\S]*42/);
    await terminal.type("/exit");
    await terminal.press("Enter");
    expect(await terminal.waitForExit(60_000)).toBe(0);
  });

  it("stops a long execution on Ctrl-C and keeps the session and its variables", async () => {
    const dir = appDir({ "session.roles": ["code_interpreter"] });
    server.enqueue(python("secret = 41\nsecret"), python("import time\ntime.sleep(30)\n'finished sleeping'"), python("secret + 1"));
    const { terminal } = await startCli(["-p", dir.path]);
    await terminal.waitFor(READY, 150_000);
    await terminal.type("remember 41");
    await terminal.press("Enter");
    await terminal.waitFor(/Human: remember 41\n[\s\S]*TaskWeaver: This code was run[\s\S]*41/, 90_000);

    await terminal.type("sleep for a while");
    await terminal.press("Enter");
    await terminal.waitFor(/Human: sleep for a while\n[\s\S]*CodeInterpreter is executing code/, 90_000);
    const pressedAt = Date.now();
    await terminal.press("C-c");
    const stopped = after(
      await terminal.waitFor(/Human: sleep for a while\n[\s\S]*Stopped\. The session and its variables are kept/, 25_000),
      "Human: sleep for a while",
    );
    expect(Date.now() - pressedAt).toBeLessThan(25_000);
    // The kernel was interrupted: the sleep never returned its value.
    expect(stopped).toContain("KeyboardInterrupt");
    expect(stopped).not.toMatch(/Displayed value:\s*'finished sleeping'/);
    // The program is still running and usable.
    expect(await terminal.exitStatus()).toBeUndefined();

    await terminal.type("add one");
    await terminal.press("Enter");
    const screen = await terminal.waitFor(/Human: add one\n[\s\S]*TaskWeaver: This code was run[\s\S]*42/, 90_000);
    expect(after(screen, "Human: add one")).toMatch(/>>> \[STATUS\]\nSUCCESS/);
    await terminal.press("C-c");
    expect(await terminal.waitForExit(60_000)).toBe(0);
  });

  it("attaches a /load-ed file that the code reads, remembers requests, and starts over on /reset", async () => {
    // No retries: the failing code of the new session goes straight back as the answer.
    const dir = appDir({ "session.roles": ["code_interpreter"], "code_interpreter.max_retry_count": 0 });
    const work = mkdtempSync(join(tmpdir(), "tw-cwd-"));
    writeFileSync(join(work, "numbers.csv"), "value\n10\n20\n30\n");
    server.enqueue(
      python("import pandas as pd\ntotal = int(pd.read_csv('numbers.csv')['value'].sum())\nprint('total is', total)\ntotal"),
      python("total"),
    );
    const { terminal, home } = await startCli(["-p", dir.path], { cwd: work });
    await terminal.waitFor(READY, 150_000);
    await terminal.type("/load numbers.csv");
    await terminal.press("Enter");
    await terminal.waitFor("Attached numbers.csv; it goes with your next message.", 30_000);
    await terminal.type("sum the values");
    await terminal.press("Enter");
    const loaded = await terminal.waitFor(/Human: sum the values\n[\s\S]*TaskWeaver: This code was run[\s\S]*total is 60/, 90_000);
    expect(after(loaded, "Human: sum the values")).toContain("(attached: numbers.csv)");
    const request = JSON.stringify(server.requests.at(-1)?.body);
    expect(request).toContain("files added: numbers.csv");

    await terminal.type("/info");
    await terminal.press("Enter");
    const info = await terminal.waitFor(/Memory: +PSS/, 30_000);
    const sessionId = /Session:\s+(\S+)/.exec(after(info, "Session:"))?.[1];
    expect(sessionId).toBeTruthy();
    expect(after(info, "Session:")).toContain("Model:    fake-model");
    // The running kernel, and its memory read from /proc when /info asks.
    expect(after(info, "Session:")).toMatch(/Kernel: +local, pid \d+/);
    expect(after(info, "Session:")).toMatch(/Memory: +PSS \d+\.\d MiB · USS \d+\.\d MiB · RSS \d+\.\d MiB/);

    await terminal.type("/reset");
    await terminal.press("Enter");
    const reset = await terminal.waitFor("New session", 60_000);
    const newId = /New session (\S+):/.exec(after(reset, "New session"))?.[1];
    expect(newId).toBeTruthy();
    expect(newId).not.toBe(sessionId);
    // Up browses earlier input (commands included); the new session's kernel has no `total`.
    await terminal.press("Up");
    await terminal.waitFor(/Human: \/reset\s*$/, 30_000);
    await terminal.press("Up", "Up");
    await terminal.waitFor(/Human: sum the values\s*$/, 30_000);
    await terminal.press("C-u");
    // Typed only once the line is empty: on a loaded machine the keys could otherwise arrive
    // in one read with Ctrl-U and be taken as plain text.
    await terminal.waitFor(/Human:\s*$/, 30_000);
    await terminal.type("show the total again");
    await terminal.press("Enter");
    const fresh = await terminal.waitFor(/Human: show the total again\n[\s\S]*TaskWeaver: [\s\S]*NameError/, 90_000);
    expect(after(fresh, "Human: show the total again")).toMatch(/>>> \[STATUS\]\nFAILURE/);

    // Requests are saved when sent, so the history file is complete while the TUI still runs.
    const history = readFileSync(join(home, ".taskweaver", "history"), "utf8");
    expect(history).toContain(JSON.stringify("sum the values"));
    expect(history).toContain(JSON.stringify("/load numbers.csv"));
    // Ctrl-C at the empty prompt of the new session leaves, stopping its kernel.
    await terminal.press("C-c");
    expect(await terminal.waitForExit(60_000)).toBe(0);
  });

  it("replays the demo with --demo and no model configured", async () => {
    const { terminal } = await startCli(["--demo", "--config", `execution_service.python=${TEST_PYTHON}`]);
    const opening = await terminal.waitFor(READY, 150_000);
    expect(opening).toContain("[demo] A replay of a recorded conversation");
    expect(opening).toContain("Attached to the next message: demo_data.csv");
    const demo = JSON.parse(readFileSync(join(REPO_ROOT, "project/demo/demo.json"), "utf8")) as { request: string };
    expect(opening).toContain(`Human: ${demo.request}`);
    await terminal.press("Enter");
    const screen = await terminal.waitFor(/\nTaskWeaver: .*North had the highest total revenue/, 150_000);
    expect(after(screen, `Human: ${demo.request}`)).toMatch(/>>> \[RESULT\][\s\S]*North\s+13109\.5/);
    // `UPDATE_SCREENSHOT=1` refreshes the screen capture shown in the CLI's docs.
    if (process.env["UPDATE_SCREENSHOT"] === "1") {
      const lines = (await terminal.screen()).split("\n").map((line) => line.trimEnd());
      writeFileSync(join(REPO_ROOT, "apps/cli/docs/screenshot.txt"), `${lines.join("\n").trimEnd()}\n`);
    }
    await terminal.type("/exit");
    await terminal.press("Enter");
    expect(await terminal.waitForExit(60_000)).toBe(0);
  });
  it("shows plugins that could not be loaded as a notice at start and in /info", async () => {
    const project = prepareOriginalProject(server);
    cleanups.push(() => project.remove());
    const { terminal } = await startCli(["-p", project.appDir]);
    // The kernel starts in the background; its plugin report arrives as a notice.
    const screen = await terminal.waitFor(/Plugin web_lookup could not be loaded/, 150_000);
    // Long lines wrap at the terminal's width.
    const unwrapped = (text: string) => text.replace(/\s+/g, " ");
    expect(unwrapped(screen)).toContain("No module named 'taskweaver_fixture_http_client' (plugins/web_lookup.py)");
    await terminal.waitFor(/Plugin ticket_tracker could not be loaded/, 60_000);
    await terminal.waitFor(READY, 60_000);
    await terminal.type("/info");
    await terminal.press("Enter");
    const info = unwrapped(after(await terminal.waitFor(/ticket_tracker: not loaded/, 60_000), "Session:"));
    expect(info).toContain("column_total: loaded");
    expect(info).toContain("web_lookup: not loaded (ModuleNotFoundError: No module named 'taskweaver_fixture_http_client')");
    expect(info).toContain("ticket_tracker: not loaded (RuntimeError: the ticket service address is not configured)");
    await terminal.type("/exit");
    await terminal.press("Enter");
    expect(await terminal.waitForExit(60_000)).toBe(0);
  });
});
