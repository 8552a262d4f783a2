// The fixture project shaped like the original TaskWeaver's sample project, set up for one
// runtime, and the first-round scenario every runtime must pass with it (see
// original-project.test.ts and original-project-runtimes.test.ts).
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import {
  plannerAnswer,
  pythonAnswer,
  REPO_ROOT,
  runCli,
  TEST_PYTHON,
  type FakeOpenAIServer,
  type ScriptedPlan,
} from "../src/index.js";

export const ORIGINAL_PLAN: ScriptedPlan = {
  reasoning: "Sum the column with the plugin.",
  steps: ["load the data and sum it", "report"],
};

/** A copy of the fixture in a temp folder, its model pointed at the fake server. */
export function prepareOriginalProject(server: FakeOpenAIServer, config: Record<string, unknown> = {}) {
  const appDir = mkdtempSync(join(tmpdir(), "tw-original-"));
  cpSync(join(REPO_ROOT, "test/fixtures/original-shaped-project"), appDir, { recursive: true });
  const configFile = join(appDir, "taskweaver_config.json");
  const settings = JSON.parse(readFileSync(configFile, "utf8")) as Record<string, unknown>;
  Object.assign(settings, {
    "llm.api_base": server.url,
    "llm.api_key": "test-key",
    "execution_service.python": TEST_PYTHON,
    ...config,
  });
  writeFileSync(configFile, JSON.stringify(settings, null, 2));
  return { appDir, remove: () => rmSync(appDir, { recursive: true, force: true }) };
}

/**
 * The first round through the real CLI: the working plugin runs, each broken plugin is reported
 * once on stderr (name, the error's last line, its file, what to do; never its source), the
 * invalid example is named with its field, and the CodeInterpreter's prompt offers only the
 * plugin that loaded.
 */
export async function expectFirstRoundWithBrokenPlugins(server: FakeOpenAIServer, appDir: string): Promise<void> {
  const firstChat = server.chatRequests.length;
  server.enqueue(
    plannerAnswer("CodeInterpreter", "Load sales.csv and add up the amount column.", ORIGINAL_PLAN),
    pythonAnswer(
      "import pandas as pd\ndf = pd.read_csv('sales.csv')\ntotal, description = column_total(df, 'amount')\ndescription",
      "Use column_total.",
    ),
    plannerAnswer("User", "The amounts add up to 42.5.", ORIGINAL_PLAN),
  );
  const run = await runCli(["-p", appDir, "--file", join(appDir, "sample_data/sales.csv")], {
    input: ["add up the amount column of sales.csv"],
  });
  expect(run.exitCode, run.stdout + run.stderr).toBe(0);
  expect(run.stdout).toContain("The column amount adds up to 42.5 over 3 rows.");
  expect(run.stdout).toContain("TaskWeaver: The amounts add up to 42.5.");

  const warnings = run.stderr.split("\n").filter((line) => line.startsWith("warning: plugin"));
  expect(warnings, run.stderr).toHaveLength(2);
  expect(warnings.find((line) => line.includes("web_lookup"))).toBe(
    "warning: plugin web_lookup could not be loaded and is left out: ModuleNotFoundError: No module named " +
      "'taskweaver_fixture_http_client' (plugins/web_lookup.py); install taskweaver_fixture_http_client into the " +
      "kernel's Python (on Debian: apt-get install python3-taskweaver-fixture-http-client), or point " +
      "execution_service.python at an environment that has it.",
  );
  expect(warnings.find((line) => line.includes("ticket_tracker"))).toContain(
    "RuntimeError: the ticket service address is not configured (plugins/ticket_tracker.py)",
  );
  expect(run.stdout + run.stderr).not.toContain("import taskweaver_fixture_http_client as http_client");

  expect(run.stderr.match(/example-not-valid\.yaml/g), run.stderr).toHaveLength(1);
  expect(run.stderr).toContain(
    'example-not-valid.yaml is invalid at field "rounds[0].post_list[0].attachment_list[0].content"',
  );
  expect(run.stderr).not.toMatch(/example-(echo|recepta)/);

  const interpreterPrompt = JSON.stringify(server.chatRequests[firstChat + 1]?.body);
  expect(interpreterPrompt).toContain("column_total");
  expect(interpreterPrompt).not.toContain("web_lookup");
  expect(interpreterPrompt).not.toContain("ticket_tracker");
}
