// Approving code in the Ink TUI, in a real pseudo-terminal (a private tmux server): the real CLI
// through tsx, the real OpenAI client against the fake server, a real Python kernel, and
// `code_interpreter.require_confirmation` on. Keys are typed as a user would.
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  cleanEnvironment,
  createTestAppDir,
  REPO_ROOT,
  startFakeOpenAIServer,
  type FakeOpenAIServer,
  type TestAppDir,
  pythonAnswer,
} from "../src/index.js";
import { startTerminal, type Terminal } from "../src/pty.js";

let server: FakeOpenAIServer;
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(async () => {
  server = await startFakeOpenAIServer({ chunkSize: 12 });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await server.close();
});

function appDir(): TestAppDir {
  const dir = createTestAppDir({
    config: {
      "llm.api_base": server.url,
      "llm.api_key": "test-key",
      "llm.model": "fake-model",
      "session.roles": ["code_interpreter"],
      "code_interpreter.require_confirmation": true,
    },
  });
  cleanups.push(() => dir.remove());
  return dir;
}

const textAnswer = (content: string) =>
  JSON.stringify({ response: { thought: "Answer in words.", reply_type: "text", reply_content: content } });

/** Ink draws only a final frame under CI variables; a person at a terminal has none. */
function withoutCiMarkers(env: Record<string, string | undefined>): Record<string, string | undefined> {
  return Object.fromEntries(
    Object.entries(env).filter(
      ([key]) => key !== "CI" && key !== "CONTINUOUS_INTEGRATION" && !key.startsWith("CI_"),
    ),
  );
}

async function startCli(args: string[], editor: string | undefined): Promise<Terminal> {
  const home = mkdtempSync(join(tmpdir(), "tw-home-"));
  cleanups.push(() => rmSync(home, { recursive: true, force: true }));
  const terminal = await startTerminal({
    command: [join(REPO_ROOT, "node_modules/.bin/tsx"), join(REPO_ROOT, "apps/cli/src/cli.tsx"), ...args],
    cwd: REPO_ROOT,
    env: withoutCiMarkers({
      ...cleanEnvironment({ HOME: home, TERM: "xterm-256color" }),
      NO_COLOR: undefined,
      TMUX: undefined,
      VISUAL: undefined,
      EDITOR: editor,
    }),
    columns: 110,
    rows: 50,
  });
  cleanups.push(() => terminal.close());
  return terminal;
}

const READY = "Enter: send";
const ASKED = "[y] run  [n] reject  [e] edit";

function after(screen: string, marker: string): string {
  const index = screen.lastIndexOf(marker);
  return index === -1 ? "" : screen.slice(index);
}

function filesNamed(directory: string, name: string): string[] {
  if (!existsSync(directory)) return [];
  return (readdirSync(directory, { recursive: true }) as string[]).filter((path) => path.endsWith(name));
}

describe("approving code in the TUI in a pseudo-terminal", { timeout: 300_000 }, () => {
  it("asks with the code; y runs it, n rejects it with a reason, Ctrl-C rejects and stops", async () => {
    const dir = appDir();
    server.enqueue(
      pythonAnswer("print(6 * 7)"),
      pythonAnswer("open('marker.txt', 'w').write('x')"),
      textAnswer("Understood, I will not write it."),
      pythonAnswer("print('never')"),
    );
    const terminal = await startCli(["-p", dir.path], undefined);
    await terminal.waitFor(READY, 150_000);

    await terminal.type("what is 6 * 7?");
    await terminal.press("Enter");
    const asked = after(await terminal.waitFor(ASKED, 90_000), "Human: what is 6 * 7?");
    expect(asked).toContain("CodeInterpreter wants to run this code:");
    expect(after(asked, "wants to run this code:")).toContain("print(6 * 7)");
    // Nothing ran yet.
    expect(asked).not.toContain("[RESULT]");
    await terminal.press("y");
    const ran = after(
      await terminal.waitFor(/Approved: the code runs\.[\s\S]*TaskWeaver: /, 90_000),
      "Human: what is 6 * 7?",
    );
    expect(after(ran, ">>> [RESULT]")).toMatch(/^>>> \[RESULT\][\s\S]*42/);
    await terminal.waitFor(READY, 30_000);

    await terminal.type("write a marker file");
    await terminal.press("Enter");
    await terminal.waitFor(
      new RegExp(`Human: write a marker file[\\s\\S]*${ASKED.replace(/[[\]]/g, "\\$&")}`),
      90_000,
    );
    const before = server.chatRequests.length;
    await terminal.press("n");
    await terminal.waitFor("Why not? (optional, Enter to reject):", 30_000);
    await terminal.type("not now");
    await terminal.press("Enter");
    const rejected = after(
      await terminal.waitFor(
        /Rejected: the code did not run \(not now\)\.[\s\S]*TaskWeaver: Understood, I will not write it\./,
        90_000,
      ),
      "Human: write a marker file",
    );
    expect(rejected).not.toContain(">>> [STATUS]\nSUCCESS");
    expect(JSON.stringify(server.chatRequests[before]?.body)).toContain(
      "The user declined to run this code. Their reason: not now",
    );
    expect(filesNamed(join(dir.path, "workspace"), "marker.txt")).toEqual([]);
    await terminal.waitFor(READY, 30_000);

    await terminal.type("print something");
    await terminal.press("Enter");
    await terminal.waitFor(
      new RegExp(`Human: print something[\\s\\S]*${ASKED.replace(/[[\]]/g, "\\$&")}`),
      90_000,
    );
    await terminal.press("C-c");
    const stopped = after(
      await terminal.waitFor(
        /Human: print something[\s\S]*Stopped\. The session and its variables are kept/,
        30_000,
      ),
      "Human: print something",
    );
    expect(stopped).not.toContain("never\n");

    await terminal.type("/exit");
    await terminal.press("Enter");
    expect(await terminal.waitForExit(60_000)).toBe(0);
  });

  it("e opens $EDITOR on the code; the edited code is what runs and what the post shows", async () => {
    const dir = appDir();
    const scripts = mkdtempSync(join(tmpdir(), "tw-editor-"));
    cleanups.push(() => rmSync(scripts, { recursive: true, force: true }));
    const editor = join(scripts, "edit.sh");
    // An editor that rewrites the file it is given, as a user would in vi, and records the call.
    writeFileSync(
      editor,
      `#!/bin/sh\necho "$1" > "${join(scripts, "edited-file")}"\nsed -i 's/6 \\* 7/6 * 7000/' "$1"\n`,
    );
    chmodSync(editor, 0o755);
    server.enqueue(pythonAnswer("print(6 * 7)"));
    const terminal = await startCli(["-p", dir.path], editor);
    await terminal.waitFor(READY, 150_000);
    await terminal.type("what is 6 * 7?");
    await terminal.press("Enter");
    await terminal.waitFor(ASKED, 90_000);
    await terminal.press("e");
    const screen = after(
      await terminal.waitFor(/Approved with your edits: the edited code runs\.[\s\S]*TaskWeaver: /, 90_000),
      "Approved with your edits",
    );
    expect(screen).toContain(">>> [PYTHON]\nprint(6 * 7000)");
    expect(after(screen, ">>> [RESULT]")).toMatch(/^>>> \[RESULT\][\s\S]*42000/);
    // The editor got a temporary .py file, removed after.
    const edited = readFileSync(join(scripts, "edited-file"), "utf8").trim();
    expect(edited).toMatch(/\.py$/);
    expect(existsSync(edited)).toBe(false);
    await terminal.waitFor(READY, 30_000);
    await terminal.type("/exit");
    await terminal.press("Enter");
    expect(await terminal.waitForExit(60_000)).toBe(0);
  });
});
