// `code_interpreter.require_confirmation` in transcript mode: the real CLI through tsx, the real
// OpenAI client against the fake server, a real Python kernel. The transcript cannot ask, so
// without --yes it refuses to start (and never hangs a pipeline); with --yes the code runs.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createTestAppDir,
  runCli,
  startFakeOpenAIServer,
  pythonAnswer,
  type FakeOpenAIServer,
  type TestAppDir,
} from "../src/index.js";

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
    config: {
      "llm.api_base": server.url,
      "llm.api_key": "test-key",
      "llm.model": "fake-model",
      "session.roles": ["code_interpreter"],
      ...config,
    },
  });
  appDirs.push(dir);
  return dir;
}

/** A plugin that asks before any code calling it runs (`requires_confirmation: true`). */
function addConfirmingPlugin(dir: TestAppDir) {
  const plugins = join(dir.path, "plugins");
  mkdirSync(plugins, { recursive: true });
  writeFileSync(
    join(plugins, "wipe_table.yaml"),
    [
      "name: wipe_table",
      "requires_confirmation: true",
      "description: Empties a table for good.",
      "parameters:",
      "  - name: name",
      "    type: str",
      "    required: true",
      "    description: the table",
      "returns:",
      "  - name: done",
      "    type: str",
      "    description: what was wiped",
    ].join("\n"),
  );
  writeFileSync(
    join(plugins, "wipe_table.py"),
    'from taskweaver.plugin import register_plugin\n\n\n@register_plugin\ndef wipe_table(name):\n    return "wiped " + name\n',
  );
}

const textAnswer = (content: string) =>
  JSON.stringify({ response: { thought: "The result answers it.", reply_type: "text", reply_content: content } });

// Each test spawns the CLI through tsx; on a loaded machine one start can take 20 s or more.
describe("taskweaver transcript with code_interpreter.require_confirmation", { timeout: 150_000 }, () => {
  it("refuses to start without --yes: exit 2, a clear message, no model call", async () => {
    const dir = appDir({ "code_interpreter.require_confirmation": true });
    const before = server.chatRequests.length;
    const run = await runCli(["-p", dir.path], { input: ["what is 6 * 7?"] });
    expect(run.exitCode, run.stderr + run.stdout).toBe(2);
    expect(run.stderr).toContain("code_interpreter.require_confirmation is on");
    expect(run.stderr).toContain("Pass --yes to approve every execution");
    expect(run.stdout).not.toContain("Human:");
    expect(server.chatRequests.length).toBe(before);
  });

  it("refuses as well when confirmation is switched on with --config", async () => {
    const dir = appDir();
    const run = await runCli(["-p", dir.path, "--config", "code_interpreter.require_confirmation=true"], {
      input: ["what is 6 * 7?"],
    });
    expect(run.exitCode, run.stderr + run.stdout).toBe(2);
    expect(run.stderr).toContain("code_interpreter.require_confirmation is on");
  });

  it("runs the code in the kernel with --yes and answers", async () => {
    const dir = appDir({ "code_interpreter.require_confirmation": true });
    server.enqueue(pythonAnswer("product = 6 * 7\nprint(product * 1000 + 1)"));
    const run = await runCli(["-p", dir.path, "--yes"], { input: ["what is 6 * 7?"] });
    expect(run.exitCode, run.stderr + run.stdout).toBe(0);
    // The kernel's output, which the model did not write: the code really ran.
    expect(run.stdout).toContain("42001");
    expect(run.stdout).toContain(">>> [STATUS]\nSUCCESS\n");
    expect(run.stdout).toContain("TaskWeaver: This code was run:");
    expect(server.pendingResponses).toBe(0);
  });

  it("with the global setting off, rejects code calling a requires_confirmation plugin (nobody can approve) and tells the model", async () => {
    const dir = appDir();
    addConfirmingPlugin(dir);
    server.enqueue(pythonAnswer('print(wipe_table("sales"))'), textAnswer("I was not allowed to wipe the table."));
    const before = server.chatRequests.length;
    const run = await runCli(["-p", dir.path], { input: ["wipe the sales table"] });
    expect(run.exitCode, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).not.toContain("wiped sales");
    expect(run.stdout).toContain("TaskWeaver: I was not allowed to wipe the table.");
    const second = JSON.stringify(server.chatRequests[before + 1]?.body);
    expect(second).toContain("no one can approve code here");
  });

  it("runs code calling a requires_confirmation plugin with --yes", async () => {
    const dir = appDir();
    addConfirmingPlugin(dir);
    server.enqueue(pythonAnswer('print(wipe_table("sales"))'));
    const run = await runCli(["-p", dir.path, "--yes"], { input: ["wipe the sales table"] });
    expect(run.exitCode, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toContain("wiped sales");
  });
});
