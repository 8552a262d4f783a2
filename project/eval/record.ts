// Records project/eval/recordings/ by running `taskweaver eval project/eval/cases --record`
// against the fake OpenAI server of test/fake-openai, scripted with the answers below: the
// virtual user's requests, the Planner's and the CodeInterpreter's answers, the judge's
// verdicts. The Python really runs in a local kernel, and the Planner's words repeat what it
// printed. Prompts are part of the recording's keys, so a prompt change needs a new recording:
//
//   pnpm exec tsx project/eval/record.ts
//
// The cases run one after the other, in file order, so the answers are used in this order.
import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { plannerAnswer, pythonAnswer, startFakeOpenAIServer } from "../../test/fake-openai/src/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const repository = resolve(here, "../..");
const python = process.env["TASKWEAVER_TEST_PYTHON"] ?? "/usr/bin/python3";

const verdict = (reason: string): string => JSON.stringify({ reason, is_hit: "yes" });
const plan = (reasoning: string, work: string) => ({ reasoning, steps: [work, "report the result to the user"] as const });

const rowCount = plan("Counting rows needs the file loaded.", "load demo_data.csv and count its rows");
const topRegion = plan("The totals per region need a group-by.", "sum revenue per region and pick the highest");
const units = plan("The totals per product need a group-by, saved to a file.", "sum units per product and save them");

const answers: string[] = [
  // row_count.yaml
  "How many rows of data does demo_data.csv hold? Please don't count the header.",
  plannerAnswer("CodeInterpreter", "Load demo_data.csv with pandas and count its rows.", rowCount),
  pythonAnswer('import pandas as pd\n\nsales = pd.read_csv("demo_data.csv")\nrow_count = len(sales)\nrow_count', "len() of the frame counts the data rows; the header is not one."),
  plannerAnswer("User", "demo_data.csv holds 120 rows of data (the header not counted).", rowCount),
  "TASK_FINISHED",
  verdict("The agent's answer says demo_data.csv holds 120 rows."),
  // top_region.yaml
  "Which region had the highest total revenue in demo_data.csv, and what was that total?",
  plannerAnswer("CodeInterpreter", "Sum the revenue per region in demo_data.csv and sort the totals, highest first.", topRegion),
  pythonAnswer(
    'import pandas as pd\n\nsales = pd.read_csv("demo_data.csv")\nrevenue_by_region = sales.groupby("region")["revenue"].sum().sort_values(ascending=False).round(2)\nrevenue_by_region',
    "Group by region, sum the revenue, sort descending.",
  ),
  plannerAnswer("User", "North had the highest total revenue: 13109.5 (then West 11382.0, East 10581.25, South 10523.0).", topRegion),
  "TASK_FINISHED",
  verdict("The agent names North as the region with the highest total revenue."),
  // units_file.yaml
  "Please compute the total units sold per product in demo_data.csv and save them to product_units.csv, with the columns product and units.",
  plannerAnswer("CodeInterpreter", "Sum the units per product in demo_data.csv and save the totals to product_units.csv with the columns product and units.", units),
  pythonAnswer(
    'import pandas as pd\n\nsales = pd.read_csv("demo_data.csv")\nunits_by_product = sales.groupby("product", as_index=False)["units"].sum()\nunits_by_product.to_csv("product_units.csv", index=False)\nunits_by_product',
    "Group by product, sum the units, write the frame without its index.",
  ),
  plannerAnswer("User", "Saved product_units.csv: Gadget 883, Gizmo 887, Widget 1014 units.", units),
  "Thanks. Which product sold the most units?",
  plannerAnswer("User", "Widget sold the most units: 1014.", {
    reasoning: "The totals per product are known from the previous step.",
    steps: ["read the totals computed before", "report the result to the user"],
  }),
  "TASK_FINISHED",
  verdict("The agent says Widget sold the most units, 1014."),
];

const server = await startFakeOpenAIServer({ responses: answers });
try {
  const child = spawn(
    join(repository, "node_modules/.bin/tsx"),
    [
      join(repository, "apps/cli/src/cli.tsx"),
      "eval",
      join(here, "cases"),
      "--record",
      join(here, "recordings"),
      "--report",
      join(repository, ".scratch-eval/report.json"),
      "--csv",
      join(repository, ".scratch-eval/results.csv"),
      "--config",
      `llm.api_base=${server.url}`,
      "--config",
      "llm.api_key=fake",
      "--config",
      "llm.model=fake-model",
      "--config",
      `execution_service.python=${python}`,
    ],
    { cwd: repository, stdio: "inherit" },
  );
  const code = await new Promise<number | null>((done) => child.on("close", done));
  if (server.pendingResponses > 0) {
    console.error(`${server.pendingResponses} scripted answers were not used: the cases asked fewer questions than scripted.`);
    process.exitCode = 1;
  } else {
    process.exitCode = code ?? 1;
  }
} finally {
  await server.close();
}
