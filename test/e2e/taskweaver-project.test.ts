// An existing TaskWeaver project folder (config, plugins in TaskWeaver's format, examples) works
// unchanged through the CLI: plugins, code verification, examples and auto plugin selection.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  REPO_ROOT,
  runCli,
  startFakeOpenAIServer,
  TEST_PYTHON,
  type FakeOpenAIServer,
  plannerAnswer,
  pythonAnswer,
  type ScriptedPlan,
} from "../src/index.js";

let server: FakeOpenAIServer;
let appDir: string;

/** Embeds by topic words, so similarity is predictable. */
function topicEmbedding(text: string): number[] {
  const lower = text.toLowerCase();
  return ["anomal", "convert", "length", "series"].map((word) => (lower.includes(word) ? 1 : 0.05));
}

beforeAll(async () => {
  server = await startFakeOpenAIServer({ embed: topicEmbedding });
  appDir = mkdtempSync(join(tmpdir(), "tw-project-"));
  cpSync(join(REPO_ROOT, "test/fixtures/taskweaver-project"), appDir, { recursive: true });
  const config = JSON.parse(readFileSync(join(appDir, "taskweaver_config.json"), "utf8")) as Record<string, unknown>;
  Object.assign(config, { "llm.api_base": server.url, "llm.api_key": "test-key", "execution_service.python": TEST_PYTHON });
  writeFileSync(join(appDir, "taskweaver_config.json"), JSON.stringify(config, null, 2));
});
afterAll(async () => {
  await server.close();
  rmSync(appDir, { recursive: true, force: true });
});

const PLAN: ScriptedPlan = {
  reasoning: "The CodeInterpreter has an anomaly detection plugin.",
  steps: ["build the series and detect anomalies", "report"],
  initPlan: "1. build the series\n2. detect anomalies <depends on 1>\n3. report <depends on 2>",
};
const planner = (sendTo: string, message: string) => plannerAnswer(sendTo, message, PLAN);
const python = (code: string) => pythonAnswer(code, "Use the plugin.");

it("runs a plugin, catches a forbidden import, shows examples and picks the right plugin", async () => {
  server.enqueue(
    planner("CodeInterpreter", "Build a daily series of 50 points of value 10 with a spike of 100 at index 25, then find the anomalies."),
    python("import os\nfiles = os.listdir('.')\nfiles"),
    python(
      [
        "import pandas as pd",
        "df = pd.DataFrame({'ts': pd.date_range('2026-01-01', periods=50, freq='D'), 'value': [10.0] * 50})",
        "df.loc[25, 'value'] = 100.0",
        "result_df, description = anomaly_detection(df, 'ts', 'value')",
        "print(type(result_df).__name__, int(result_df['is_anomaly'].sum()))",
        "description",
      ].join("\n"),
    ),
    planner("User", "I found 1 anomaly: the spike at index 25."),
  );
  const run = await runCli(["-p", appDir], { input: ["find anomalies in a time series with a spike"] });
  const out = run.stdout;
  expect(run.exitCode, out + run.stderr).toBe(0);

  // Verification caught the import and the retry succeeded.
  expect(out).toMatch(/>>> \[VERIFICATION\]\s*\n\s*INCORRECT/);
  expect(out).toMatch(/"os"/);
  expect(out).toMatch(/>>> \[VERIFICATION\]\s*\n\s*CORRECT/);
  expect(out).toMatch(/>>> \[STATUS\]\s*\n\s*SUCCESS/);

  // The plugin ran in the kernel: its description and its DataFrame artifact.
  expect(out).toContain("1 of 50 points in value are anomalies");
  expect(out).toContain("DataFrame 1");
  const sessions = readdirSync(join(appDir, "workspace/sessions"));
  const cwd = join(appDir, "workspace/sessions", sessions[0]!, "cwd");
  const artifact = readdirSync(cwd).find((name) => name.endsWith("anomalies.csv"));
  expect(artifact).toBeDefined();
  expect(readFileSync(join(cwd, artifact!), "utf8")).toMatch(/ts,value,is_anomaly\n2026-01-26,100.0,True/);
  expect(out).toContain(artifact!);

  const chats = server.requests.filter((request) => request.path.endsWith("/chat/completions"));
  const messagesOf = (index: number) => (chats[index]!.body as { messages: { role: string; content: string }[] }).messages;
  // Examples are in the prompts: the planner's greeting example, the code generator's sum.
  expect(JSON.stringify(messagesOf(0))).toContain("I am the planner of this example project");
  expect(JSON.stringify(messagesOf(1))).toContain("example marker 7f3a");
  expect(JSON.stringify(messagesOf(1))).not.toContain("example-disabled");
  // Auto-selection offered only the plugin that fits the request (top-k = 1).
  const codeSystemPrompt = messagesOf(1)[0]!.content;
  expect(codeSystemPrompt).toContain("anomaly_detection(");
  expect(codeSystemPrompt).not.toContain("unit_converter(");
  expect(server.requests.some((request) => request.path.endsWith("/embeddings"))).toBe(true);
  expect(existsSync(join(appDir, "plugins/.plugin_embeddings.json"))).toBe(true);
  // The verifier's problems were shown to the model on the retry.
  expect(JSON.stringify(messagesOf(2))).toMatch(/os/);
  // The broken plugin is reported with its file and field, and the others still loaded.
  expect(run.stderr + out).toMatch(/broken_plugin\.yaml[^\n]*description/);
}, 120_000);
