// A project folder shaped like the original TaskWeaver's sample project (our own fixture): one
// plugin that works, one that imports a module the kernel lacks, one that raises while it is
// imported, examples for roles that are not enabled and one example that is not valid. The
// session must start, report each broken plugin once and briefly, keep it out of the prompt, and
// a call to it anyway must end with the model seeing a clear error and the user an answer.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  plannerAnswer,
  pythonAnswer,
  REPO_ROOT,
  runCli,
  startFakeOpenAIServer,
  TEST_PYTHON,
  type FakeOpenAIServer,
  type ScriptedPlan,
} from "../src/index.js";

let server: FakeOpenAIServer;
let appDir: string;

beforeAll(async () => {
  server = await startFakeOpenAIServer();
  appDir = mkdtempSync(join(tmpdir(), "tw-original-"));
  cpSync(join(REPO_ROOT, "test/fixtures/original-shaped-project"), appDir, { recursive: true });
  const configFile = join(appDir, "taskweaver_config.json");
  const config = JSON.parse(readFileSync(configFile, "utf8")) as Record<string, unknown>;
  Object.assign(config, { "llm.api_base": server.url, "llm.api_key": "test-key", "execution_service.python": TEST_PYTHON });
  writeFileSync(configFile, JSON.stringify(config, null, 2));
});
afterAll(async () => {
  await server.close();
  rmSync(appDir, { recursive: true, force: true });
});

const plan: ScriptedPlan = { reasoning: "Sum the column with the plugin.", steps: ["load the data and sum it", "report"] };

it("runs the working plugin in the first round and reports the two broken ones once on stderr", async () => {
  const firstChat = server.chatRequests.length;
  server.enqueue(
    plannerAnswer("CodeInterpreter", "Load sales.csv and add up the amount column.", plan),
    pythonAnswer(
      "import pandas as pd\ndf = pd.read_csv('sales.csv')\ntotal, description = column_total(df, 'amount')\ndescription",
      "Use column_total.",
    ),
    plannerAnswer("User", "The amounts add up to 42.5.", plan),
  );
  const run = await runCli(["-p", appDir, "--file", join(appDir, "sample_data/sales.csv")], {
    input: ["add up the amount column of sales.csv"],
  });
  expect(run.exitCode, run.stdout + run.stderr).toBe(0);
  expect(run.stdout).toContain("The column amount adds up to 42.5 over 3 rows.");
  expect(run.stdout).toContain("TaskWeaver: The amounts add up to 42.5.");

  // Each broken plugin: once, by name, with the error's last line, its file and what to do.
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
  // Never the plugin's source.
  expect(run.stdout + run.stderr).not.toContain("import taskweaver_fixture_http_client as http_client");
  // The example that is not valid is named with its field, once, and left out.
  expect(run.stderr.match(/example-not-valid\.yaml/g), run.stderr).toHaveLength(1);
  expect(run.stderr).toContain(
    'example-not-valid.yaml is invalid at field "rounds[0].post_list[0].attachment_list[0].content"',
  );
  // The examples for Echo and Recepta are left out without a word.
  expect(run.stderr).not.toMatch(/example-(echo|recepta)/);

  // The CodeInterpreter's prompt offers the working plugin only.
  const interpreterPrompt = JSON.stringify(server.chatRequests[firstChat + 1]?.body);
  expect(interpreterPrompt).toContain("column_total");
  expect(interpreterPrompt).not.toContain("web_lookup");
  expect(interpreterPrompt).not.toContain("ticket_tracker");
});

it("a call to a broken plugin gives the model a clear error, and the round still ends with an answer", async () => {
  const firstChat = server.chatRequests.length;
  server.enqueue(
    plannerAnswer("CodeInterpreter", "Look up lamps in the catalogue.", plan),
    pythonAnswer("products = web_lookup('lamp')\nproducts", "Use web_lookup."),
    pythonAnswer("print('web_lookup is not available here')", "The plugin is not available."),
    plannerAnswer("User", "The catalogue search is not available in this session.", plan),
  );
  const run = await runCli(["-p", appDir], { input: ["find lamps in the catalogue"] });
  expect(run.exitCode, run.stdout + run.stderr).toBe(0);
  expect(run.stdout).toContain("TaskWeaver: The catalogue search is not available in this session.");
  // The retry request carries the kernel's error: the plugin's name and the missing module.
  const retry = JSON.stringify(server.chatRequests[firstChat + 2]?.body);
  expect(retry).toContain("PluginUnavailableError");
  expect(retry).toContain("plugin web_lookup is not available in this session");
  expect(retry).toContain("No module named 'taskweaver_fixture_http_client'");
});
