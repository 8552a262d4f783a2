// `taskweaver eval` through the real CLI, a real kernel and the fake model: a case in the
// original auto_eval format recorded and replayed, and eval_code that fails.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import {
  plannerAnswer,
  REPO_ROOT,
  runCommand,
  startFakeOpenAIServer,
  TEST_PYTHON,
  type CliRun,
  type FakeOpenAIServer,
} from "../src/index.js";

// The original's echo case (auto_eval/cases/echo/echo.yaml), unchanged: one point checked by
// eval_code against chat_history, one judged by the model.
const ECHO_CASE = `version: 0.1
config_var:
  execution_service.kernel_mode: "local"
app_dir: ../project/
dependencies: []
task_description: |-
  The task is to echo the word "Hello World"
scoring_points:
  - score_point: \\"Hello World\\" should appear in the last agent response
    weight: 1
    eval_code: |-
      last_agent_response = chat_history[-1]  # you can check the \`chat_history\` via python code, it is a list of \`langchain.schema.messages\` objects
      assert isinstance(last_agent_response, HumanMessage) and last_agent_response.content == "Hello World", f"last agent response: {last_agent_response} is not as expected"
  - score_point: The agent should repeat the word "Hello World" in the response
    weight: 1
    eval_code: null
`;

// The echo conversation: the virtual user asks, the Planner answers the user, the virtual
// user ends, the judge rules on the second point.
function echoAnswers(agentSays: string): string[] {
  return [
    'Please echo the words "Hello World".',
    plannerAnswer("User", agentSays, { reasoning: "An echo needs no code.", steps: ["echo", "report to the user"] }),
    "TASK_FINISHED",
    JSON.stringify({ reason: "The agent answered with the words asked for.", is_hit: "yes" }),
  ];
}

let server: FakeOpenAIServer | undefined;
let root: string | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  if (root) rmSync(root, { recursive: true, force: true });
  root = undefined;
});

/**
 * A folder laid out as the original repository: project/ beside auto_eval/cases/<case>/<case>.yaml,
 * where the case's `app_dir: ../project/` is meant from auto_eval/, the folder the original ran in.
 * Returns the auto_eval folder.
 */
function layout(config: Record<string, unknown>): string {
  root = mkdtempSync(join(tmpdir(), "tw-eval-"));
  mkdirSync(join(root, "project"));
  writeFileSync(
    join(root, "project", "taskweaver_config.json"),
    JSON.stringify({ "execution_service.python": TEST_PYTHON, ...config }, null, 2),
  );
  mkdirSync(join(root, "auto_eval", "cases", "echo"), { recursive: true });
  writeFileSync(join(root, "auto_eval", "cases", "echo", "echo.yaml"), ECHO_CASE);
  return join(root, "auto_eval");
}

/** The real `taskweaver` command (as runCli starts it), run in `cwd`. */
function taskweaver(args: string[], cwd: string): Promise<CliRun> {
  return runCommand(join(REPO_ROOT, "node_modules/.bin/tsx"), [join(REPO_ROOT, "apps/cli/src/cli.tsx"), ...args], {
    cwd,
    timeoutMs: 120_000,
  });
}

function evalArgs(dir: string, ...extra: string[]): string[] {
  return ["eval", "cases", "--report", join(dir, "report.json"), "--csv", join(dir, "results.csv"), ...extra];
}

it("records a case of the original's format against a model, then replays it offline with identical scores", async () => {
  server = await startFakeOpenAIServer({ responses: echoAnswers("Hello World") });
  const dir = layout({ "llm.api_base": server.url, "llm.api_key": "k", "llm.model": "fake-model" });

  const recorded = await taskweaver(evalArgs(dir, "--record", join(dir, "recordings")), dir);
  expect(recorded.exitCode, recorded.stderr).toBe(0);
  expect(server.chatRequests).toHaveLength(4);
  expect(recorded.stdout).toMatch(/echo\/echo\.yaml\s+2\/2\s+1\.00/);
  const recordedCsv = readFileSync(join(dir, "results.csv"), "utf8");
  expect(recordedCsv).toBe("case_file,score,normalized_score\necho/echo.yaml,2,1\n");
  expect(existsSync(join(dir, "recordings", "echo-echo.yaml"))).toBe(true);
  const recordedReport = JSON.parse(readFileSync(join(dir, "report.json"), "utf8"));
  await server.close();
  server = undefined;

  // No model at all: the recording answers every call, the kernel runs the eval code again.
  writeFileSync(join(dir, "..", "project", "taskweaver_config.json"), JSON.stringify({ "execution_service.python": TEST_PYTHON }));
  const replayed = await taskweaver(evalArgs(dir, "--replay", join(dir, "recordings")), dir);
  expect(replayed.exitCode, replayed.stderr).toBe(0);
  expect(replayed.stdout).toMatch(/echo\/echo\.yaml\s+2\/2\s+1\.00/);
  expect(readFileSync(join(dir, "results.csv"), "utf8")).toBe(recordedCsv);
  const replayedReport = JSON.parse(readFileSync(join(dir, "report.json"), "utf8"));
  expect(replayedReport.cases[0].scoring_points).toEqual(recordedReport.cases[0].scoring_points);
  expect(replayedReport.cases[0].conversation).toEqual(recordedReport.cases[0].conversation);
  expect(replayedReport.cases[0].scoring_points[0]).toMatchObject({ judged_by: "code", is_hit: true });
  expect(replayedReport.cases[0].scoring_points[1]).toMatchObject({ judged_by: "model", is_hit: true });
  // The agent's own calls (one Planner answer) are counted; the virtual user's and the judge's are not.
  expect(recordedReport.cases[0].agent_usage).toMatchObject({ model_calls: 1 });
  expect(replayedReport.cases[0].agent_usage).toMatchObject({ model_calls: 1 });
}, 240_000);

it("scores 0 for a point whose eval_code fails, with the assertion's message as the reason (the judge its own model)", async () => {
  // The agent says something else: the eval_code's assertion fails; the judge still says yes.
  server = await startFakeOpenAIServer({ responses: echoAnswers("Hello there") });
  const dir = layout({
    "llm.api_base": server.url,
    "llm.api_key": "k",
    "llm.model": "fake-model",
    "ext_llms.llm_configs": { judge: { "llm.model": "judge-model" } },
  });
  const run = await taskweaver(evalArgs(dir, "--judge-model", "judge"), dir);
  expect(run.exitCode, run.stderr).toBe(0);
  // The virtual user and the agent use the app's model; the judge the alias given.
  expect(server.chatRequests.map((request) => (request.body as { model: string }).model)).toEqual([
    "fake-model",
    "fake-model",
    "fake-model",
    "judge-model",
  ]);
  expect(run.stdout).toMatch(/echo\/echo\.yaml\s+1\/2\s+0\.50\s+-\+/);
  const report = JSON.parse(readFileSync(join(dir, "report.json"), "utf8"));
  expect(report.cases[0].scoring_points[0]).toMatchObject({ judged_by: "code", is_hit: false });
  expect(report.cases[0].scoring_points[0].reason).toMatch(/AssertionError: last agent response: HumanMessage\(content='Hello there'\) is not as expected/);
  expect(readFileSync(join(dir, "results.csv"), "utf8")).toBe("case_file,score,normalized_score\necho/echo.yaml,1,0.5\n");
}, 180_000);

it("exits 1 naming the case when a replay has no recording for it", async () => {
  const dir = layout({});
  const run = await taskweaver(evalArgs(dir, "--replay", join(dir, "nothing-here")), dir);
  expect(run.exitCode).toBe(1);
  expect(run.stderr).toMatch(/the case echo\/echo\.yaml could not run: .*no recorded answer/);
}, 180_000);

it("runs pre_command in the case's folder before copying data_files, and names a dependency the kernel lacks", async () => {
  // Neither case reaches the judge: the virtual user is done at once, and the second case stops
  // at its dependency check, before any model call.
  server = await startFakeOpenAIServer({ responses: ["TASK_FINISHED"] });
  const dir = layout({ "llm.api_base": server.url, "llm.api_key": "k", "llm.model": "fake-model" });
  rmSync(join(dir, "cases", "echo"), { recursive: true });
  writeFileSync(
    join(dir, "cases", "a_generated.yaml"),
    `app_dir: ../../project
pre_command: ["printf '1\\\\n2\\\\n' > numbers.csv"]
data_files: [numbers.csv]
task_description: Nothing to do.
scoring_points:
  - score_point: the generated file reached the working directory
    weight: 1
    eval_code: |-
      assert open("numbers.csv").read() == "1\\n2\\n", open("numbers.csv").read()
`,
  );
  writeFileSync(
    join(dir, "cases", "b_dependency.yaml"),
    `app_dir: ../../project
dependencies: ["pandas", "no_such_package_for_taskweaver"]
task_description: Nothing to do.
scoring_points: [{score_point: never judged, weight: 1}]
`,
  );
  const run = await taskweaver(evalArgs(dir), dir);
  expect(run.exitCode).toBe(1);
  expect(run.stderr).toMatch(/the case b_dependency\.yaml could not run: .*no_such_package_for_taskweaver is not installed/);
  expect(readFileSync(join(dir, "results.csv"), "utf8")).toBe("case_file,score,normalized_score\na_generated.yaml,1,1\n");
  expect(server.chatRequests).toHaveLength(1);
}, 180_000);
