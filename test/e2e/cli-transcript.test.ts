// The `taskweaver` command in plain transcript mode (stdin and stdout are pipes): the real CLI
// through tsx, the real OpenAI client against the fake server, a real Python kernel.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  cleanEnvironment,
  createTestAppDir,
  REPO_ROOT,
  runCli,
  startFakeOpenAIServer,
  type FakeOpenAIServer,
  type TestAppDir,
  plannerAnswer,
  pythonAnswer,
  type ScriptedPlan,
} from "../src/index.js";

const GREETING =
  "TaskWeaver: I am TaskWeaver, an AI assistant. To get started, could you please enter your request?";

const PLAN: ScriptedPlan = { reasoning: "One computation, then the answer.", steps: ["compute the product", "report it"] };
const planner = (sendTo: string, message: string) => plannerAnswer(sendTo, message, PLAN);
const python = (code: string) => pythonAnswer(code, "Python computes it.");

let server: FakeOpenAIServer;
const appDirs: TestAppDir[] = [];

beforeAll(async () => {
  server = await startFakeOpenAIServer({ chunkSize: 10 });
});
afterAll(async () => {
  await server.close();
});
afterEach(() => {
  for (const dir of appDirs.splice(0)) dir.remove();
});

function appDir(config: Record<string, unknown> = {}) {
  const dir = createTestAppDir({
    config: { "llm.api_base": server.url, "llm.api_key": "test-key", "llm.model": "fake-model", ...config },
  });
  appDirs.push(dir);
  return dir;
}

/** Runs the CLI and records when each piece of stdout arrived. */
function runTimed(args: string[], input: string[]) {
  const child = spawn(join(REPO_ROOT, "node_modules/.bin/tsx"), [join(REPO_ROOT, "apps/cli/src/cli.tsx"), ...args], {
    cwd: REPO_ROOT,
    env: cleanEnvironment(),
    stdio: ["pipe", "pipe", "pipe"],
  });
  const chunks: { at: number; text: string }[] = [];
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (text: string) => chunks.push({ at: Date.now(), text }));
  child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
  child.stdin.end(`${input.join("\n")}\n`);
  return new Promise<{ chunks: typeof chunks; stdout: string; stderr: string; exitCode: number | null }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`timed out; stdout so far:\n${chunks.map((chunk) => chunk.text).join("")}\n${stderr}`));
    }, 90_000);
    child.on("close", (exitCode) => {
      clearTimeout(timer);
      resolve({ chunks, stdout: chunks.map((chunk) => chunk.text).join(""), stderr, exitCode });
    });
  });
}

// Each test spawns the CLI through tsx; on a loaded machine one start can take 20 s or more.
describe("taskweaver in transcript mode", { timeout: 150_000 }, () => {
  it("prints banner, greeting, the Human line, every block of the round and the answer, and exits 0", async () => {
    const dir = appDir();
    server.enqueue(
      planner("CodeInterpreter", "Compute 6 * 7 in Python."),
      python("product = 6 * 7\nproduct"),
      planner("User", "6 * 7 is 42."),
    );
    const run = await runCli(["chat", "-p", dir.path], { input: ["what is 6 * 7?"] });
    expect(run.exitCode, run.stderr + run.stdout).toBe(0);
    const out = run.stdout;
    // Our own banner comes first, then the classic greeting.
    expect(out.startsWith(" _/\\_/\\")).toBe(true);
    expect(out).toContain("T A S K W E A V E R");
    expect(out).toContain(`${GREETING}\nHuman: what is 6 * 7?\n>>> [PLAN_REASONING]\n`);
    const order = [
      ">>> [INIT_PLAN]\n1. compute the product\n2. report it <depends on 1>\n",
      ">>> [PLAN]\n",
      ">>> [CURRENT_PLAN_STEP]\n1. compute the product\n",
      ">>> [PLANNER->CODEINTERPRETER]\nCompute 6 * 7 in Python.\n",
      ">>> [THOUGHT]\nPython computes it.\n",
      ">>> [PYTHON]\nproduct = 6 * 7\nproduct\n",
      ">>> [VERIFICATION]\n",
      ">>> [STATUS]\nSUCCESS\n",
      ">>> [RESULT]\n",
      ">>> [CODEINTERPRETER->PLANNER]\n",
      "TaskWeaver: 6 * 7 is 42.\n",
    ];
    let position = 0;
    for (const piece of order) {
      const found = out.indexOf(piece, position);
      expect(found, `${JSON.stringify(piece)} after offset ${position} in:\n${out}`).toBeGreaterThanOrEqual(position);
      position = found + piece.length;
    }
    // The result is the kernel's, not the model's.
    expect(out.slice(out.indexOf(">>> [RESULT]"), out.indexOf(">>> [CODEINTERPRETER->PLANNER]"))).toContain("42");
    expect(run.stderr).toBe("");
  });

  it("streams blocks while the model is still answering, not at the end of the round", async () => {
    const dir = appDir({ "session.roles": ["code_interpreter"] });
    // A slow answer: 10 characters every 40 ms, about 2 s for the whole JSON.
    server.enqueue({
      content: JSON.stringify({
        response: { thought: "No code is needed for a greeting; a short, friendly answer in words will do.", reply_type: "text", reply_content: "Hello! Ask me about your data and I will write and run the Python for it." },
      }),
      chunkSize: 10,
      chunkDelayMs: 40,
    });
    const run = await runTimed(["-p", dir.path], ["hello"]);
    expect(run.exitCode, run.stderr + run.stdout).toBe(0);
    const firstThought = run.chunks.find((chunk) => chunk.text.includes(">>> [THOUGHT]"));
    const answer = run.chunks.find((chunk) => chunk.text.includes("TaskWeaver: Hello!"));
    expect(firstThought, run.stdout).toBeDefined();
    expect(answer, run.stdout).toBeDefined();
    // The thought was on screen well before the answer arrived...
    expect(answer!.at - firstThought!.at).toBeGreaterThan(500);
    // ...and came in several pieces, yet the final text reads as one block.
    const pieces = run.chunks.filter((chunk) => chunk.at >= firstThought!.at && chunk.at < answer!.at);
    expect(pieces.length).toBeGreaterThan(3);
    expect(run.stdout).toContain(
      ">>> [THOUGHT]\nNo code is needed for a greeting; a short, friendly answer in words will do.\n>>> [TEXT]\nHello! Ask me",
    );
  });

  it("prints a clear error line for a failed round, goes on with the next request, and exits non-zero", async () => {
    const dir = appDir({ "session.roles": ["code_interpreter"], "llm.max_retries": 0 });
    server.enqueue(
      { status: 500, errorBody: { error: { message: "the fake model is down" } } },
      JSON.stringify({ response: { thought: "Words suffice.", reply_type: "text", reply_content: "Back again." } }),
    );
    const run = await runCli(["-p", dir.path], { input: ["first", "second"] });
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toMatch(/Human: first\n(?:[\s\S]*\n)?TaskWeaver: \[error\] \S[^\n]*\nHuman: second\n/);
    expect(run.stdout).toContain("TaskWeaver: Back again.");
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it("exits 0 without asking the model when the input is empty", async () => {
    const dir = appDir();
    const before = server.requests.length;
    const run = await runCli(["-p", dir.path], { input: [] });
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain(GREETING);
    expect(run.stdout).not.toContain("Human:");
    expect(server.requests.length).toBe(before);
  });
});

describe("taskweaver's command line", { timeout: 150_000 }, () => {
  it("names the keys and environment variables to set when no model is configured", async () => {
    const dir = createTestAppDir();
    appDirs.push(dir);
    const run = await runCli(["-p", dir.path], { input: ["hello"] });
    expect(run.exitCode).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain(join(dir.path, "taskweaver_config.json"));
    expect(run.stderr).toMatch(/llm\.model\s+\(LLM_MODEL\)/);
    expect(run.stderr).toMatch(/llm\.api_key\s+\(LLM_API_KEY\)/);
    expect(run.stderr).toMatch(/llm\.api_base\s+\(LLM_API_BASE\)/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  const textReply = (text: string) =>
    JSON.stringify({ response: { thought: "Words suffice.", reply_type: "text", reply_content: text } });

  it("takes the model from repeated --config flags", async () => {
    const dir = createTestAppDir({ config: { "session.roles": ["code_interpreter"] } });
    appDirs.push(dir);
    server.enqueue(textReply("configured by flags"));
    const run = await runCli(
      ["-p", dir.path, "--config", `llm.api_base=${server.url}`, "--config", "llm.api_key=k", "--config=llm.model=flag-model"],
      { input: ["hi"] },
    );
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain("TaskWeaver: configured by flags");
    expect(server.requests.at(-1)?.body).toMatchObject({ model: "flag-model" });
  });

  it("takes the model from LLM_* environment variables", async () => {
    const dir = createTestAppDir({ config: { "session.roles": ["code_interpreter"] } });
    appDirs.push(dir);
    server.enqueue(textReply("configured by environment"));
    const run = await runCli(["-p", dir.path], {
      input: ["hi"],
      env: { LLM_API_BASE: server.url, LLM_API_KEY: "k", LLM_MODEL: "env-model" },
    });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain("TaskWeaver: configured by environment");
    expect(server.requests.at(-1)?.body).toMatchObject({ model: "env-model" });
  });

  it("reports a --config without = as such", async () => {
    const dir = appDir();
    const run = await runCli(["-p", dir.path, "--config", "llm.model"]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('"llm.model" is not a config assignment');
  });

  it("reports a bad --config value with the config error's message and no stack", async () => {
    const dir = appDir();
    const badValue = await runCli(["-p", dir.path, "--config", "session.max_internal_chat_round_num=lots"]);
    expect(badValue.exitCode).toBe(2);
    expect(badValue.stderr).toMatch(/^Error: .*session\.max_internal_chat_round_num.*lots/);
    expect(badValue.stderr).not.toMatch(/\n\s+at /);
  });

  it("says so when the project directory does not exist", async () => {
    const run = await runCli(["-p", "/nonexistent/taskweaver-project"]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain("/nonexistent/taskweaver-project");
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it("prints help", async () => {
    const help = await runCli(["--help"]);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/^Usage: taskweaver \[chat\] \[options\]/);
    for (const option of ["-p, --project DIR", "--config KEY=VALUE", "--demo", "--version", "--help"]) {
      expect(help.stdout).toContain(option);
    }
  });

  it("prints the version of the package", async () => {
    const version = await runCli(["--version"]);
    expect(version.exitCode).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it("rejects an unknown option with exit 2 and a pointer to --help", async () => {
    const unknown = await runCli(["--frobnicate"]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain("--frobnicate");
    expect(unknown.stderr).toContain("taskweaver --help");
  });
});
