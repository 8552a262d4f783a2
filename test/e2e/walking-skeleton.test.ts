// The thin path through every layer: the real CLI in transcript mode, the real OpenAI client
// against the fake server over HTTP, and a real Python kernel.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createTestAppDir,
  runCli,
  startFakeOpenAIServer,
  type FakeOpenAIServer,
  type TestAppDir,
  plannerAnswer,
  pythonAnswer,
  type ScriptedPlan,
} from "../src/index.js";

const PLAN: ScriptedPlan = {
  reasoning: "The request needs the data loaded and summed.",
  steps: ["load the data and compute the total", "report to the user"],
  initPlan: "1. load the data\n2. compute the total <depends on 1>\n3. report to the user <depends on 2>",
};
const planner = (sendTo: string, message: string, stop?: string) =>
  plannerAnswer(sendTo, message, PLAN, stop);
const python = (code: string, thought = "I will write Python for this.") => pythonAnswer(code, thought);

let server: FakeOpenAIServer;
const appDirs: TestAppDir[] = [];

beforeAll(async () => {
  server = await startFakeOpenAIServer({ chunkSize: 12 });
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

/** The text after each round's "TaskWeaver:" up to the next "Human:" (the greeting left out). */
function finalAnswers(transcript: string): string[] {
  return transcript
    .split(/^Human: /m)
    .slice(1)
    .map((block) => block.slice(block.lastIndexOf("TaskWeaver: ") + "TaskWeaver: ".length).trim());
}

function chatRequests() {
  return server.requests.filter((request) => request.path.endsWith("/chat/completions"));
}

describe("the walking skeleton, end to end", () => {
  it("runs the seed's example in code-interpreter-only mode and prints the kernel's real array", async () => {
    const dir = appDir({ "session.roles": ["code_interpreter"] });
    server.enqueue(python("import numpy as np\nrandom_numbers = np.random.rand(10)\nrandom_numbers"));
    const run = await runCli(["-p", dir.path], { input: ["generate 10 random numbers"] });
    expect(run.exitCode, run.stderr).toBe(0);
    const out = run.stdout;
    expect(out).toContain("TaskWeaver: I am TaskWeaver, an AI assistant. To get started, could you please enter your request?");
    expect(out).toContain("Human: generate 10 random numbers");
    expect(out).toMatch(/>>> \[PYTHON\][\s\S]*np\.random\.rand\(10\)/);
    expect(out).toMatch(/>>> \[VERIFICATION\]\s*\n\s*NONE/);
    expect(out).toMatch(/>>> \[STATUS\]\s*\n\s*SUCCESS/);
    // The numbers come from the kernel: the model never wrote them.
    const printed = /array\(\[[^\]]+\]\)/.exec(out.slice(out.indexOf(">>> [RESULT]")));
    expect(printed, out).not.toBeNull();
    expect(printed![0].match(/\d\.\d+/g)).toHaveLength(10);
    const answer = out.slice(out.lastIndexOf("TaskWeaver:"));
    expect(answer).toContain(printed![0]);
  });

  it("computes a figure from demo_data.csv in planner mode, and the Planner's second request carries the result", async () => {
    const dir = appDir();
    const before = chatRequests().length;
    server.enqueue(
      planner("CodeInterpreter", "Load sample_data/demo_data.csv and compute the total of the revenue column."),
      python("import pandas as pd\ndf = pd.read_csv('../../../../sample_data/demo_data.csv')\ntotal_revenue = round(df['revenue'].sum(), 2)\ntotal_revenue"),
      planner("User", "The total revenue is in the result above."),
    );
    const run = await runCli(["-p", dir.path], { input: ["what is the total revenue in demo_data.csv?"] });
    expect(run.exitCode, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toContain(">>> [INIT_PLAN]");
    expect(run.stdout).toContain(">>> [PLANNER->CODEINTERPRETER]");
    expect(run.stdout).toContain(">>> [CODEINTERPRETER->PLANNER]");
    const requests = chatRequests().slice(before);
    expect(requests).toHaveLength(3);
    const thirdPrompt = JSON.stringify((requests[2]!.body as { messages: unknown[] }).messages);
    // The real sum of the sample file, computed here independently of the kernel.
    const { readFileSync } = await import("node:fs");
    const rows = readFileSync(`${dir.path}/sample_data/demo_data.csv`, "utf8").trim().split("\n").slice(1);
    const total = rows.reduce((sum, row) => sum + Number(row.split(",")[5]), 0);
    expect(thirdPrompt).toContain(String(Math.round(total * 100) / 100));
    expect(run.stdout).toContain("TaskWeaver: The total revenue is in the result above.");
  });

  it("keeps variables between rounds, retries failing code with the traceback, and recovers after the round cap", async () => {
    const dir = appDir({ "session.roles": ["code_interpreter"], "session.max_internal_chat_round_num": 2 });
    const before = chatRequests().length;
    server.enqueue(
      // Round 1: define a variable.
      python("secret = 41\nsecret"),
      // Round 2: code that raises, then a fix that uses the variable from round 1.
      python("secret + undefined_name"),
      python("secret + 1"),
      // Round 3: three failures in a row hit the cap of 2 internal steps.
      python("raise ValueError('first')"),
      python("raise ValueError('second')"),
      // Round 4: works again.
      python("secret * 2"),
    );
    const run = await runCli(["-p", dir.path], {
      input: ["remember 41", "add one to it", "fail please", "double it"],
    });
    const out = run.stdout;
    expect(out).toMatch(/>>> \[STATUS\]\s*\n\s*FAILURE/);
    expect(out).toContain("NameError");
    const replies = finalAnswers(out);
    expect(replies).toHaveLength(4);
    expect(replies[1]).toContain("42");
    expect(replies[2]).toMatch(/^\[error\].*max_internal_chat_round_num = 2/);
    expect(replies[3]).toContain("82");
    // The model saw the traceback when asked to fix the code.
    const retryPrompt = JSON.stringify((chatRequests()[before + 2]!.body as { messages: unknown[] }).messages);
    expect(retryPrompt).toContain("NameError");
    expect(retryPrompt).toContain("undefined_name");
    // A round failed, so the exit status says so.
    expect(run.exitCode).not.toBe(0);
  });

  it("corrects a Planner answer that is not JSON on the next try", async () => {
    const dir = appDir();
    const before = chatRequests().length;
    server.enqueue("I think we should ask the code interpreter to do it.", planner("User", "Hello! How can I help?"));
    const run = await runCli(["-p", dir.path], { input: ["hello"] });
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.stdout).toContain("TaskWeaver: Hello! How can I help?");
    const secondPrompt = JSON.stringify((chatRequests()[before + 1]!.body as { messages: unknown[] }).messages);
    expect(secondPrompt).toContain("I think we should ask the code interpreter to do it.");
    expect(secondPrompt).toContain("could not be used");
  });
});
