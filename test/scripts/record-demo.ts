// Records the model answers that `taskweaver --demo` replays (project/demo/mock.yaml).
// Run it again whenever the prompts change: `pnpm exec tsx test/scripts/record-demo.ts`.
// The answers come from the scripted fake model server, written as a good model would answer;
// the code runs in a real kernel, so the figures in the final answer are real.
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createTaskWeaver } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";
import { REPO_ROOT, startFakeOpenAIServer } from "@taskweaver/testing";

const projectDir = join(REPO_ROOT, "project");
const cachePath = join(projectDir, "demo", "mock.yaml");
const demo = JSON.parse(readFileSync(join(projectDir, "demo", "demo.json"), "utf8")) as { request: string; files: string[] };

// The real totals, so the scripted final answer states them correctly.
const rows = readFileSync(join(projectDir, "sample_data", "demo_data.csv"), "utf8").trim().split("\n").slice(1);
const totals = new Map<string, number>();
for (const row of rows) {
  const [, region, , , , revenue] = row.split(",");
  totals.set(region!, (totals.get(region!) ?? 0) + Number(revenue));
}
const ranked = [...totals].sort((a, b) => b[1] - a[1]);
const money = (value: number) => value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

const plan = {
  init_plan: "1. load demo_data.csv\n2. sum the revenue per region <depends on 1>\n3. report the totals and the top region <depends on 2>",
  plan: "1. load demo_data.csv and sum the revenue per region, highest first\n2. report the totals and the top region",
};
const answers = [
  JSON.stringify({
    response: {
      plan_reasoning: "The totals need the data loaded and grouped, which the CodeInterpreter can do in one step.",
      ...plan,
      current_plan_step: "1. load demo_data.csv and sum the revenue per region, highest first",
      stop: "InProcess",
      send_to: "CodeInterpreter",
      message: "Load demo_data.csv from the working directory, sum the revenue column per region, and show the totals sorted from highest to lowest.",
    },
  }),
  JSON.stringify({
    response: {
      thought: "Read the CSV with pandas, group by region, sum revenue and sort descending.",
      reply_type: "python",
      reply_content:
        'import pandas as pd\n\nsales = pd.read_csv("demo_data.csv")\nrevenue_by_region = sales.groupby("region")["revenue"].sum().sort_values(ascending=False).round(2)\nrevenue_by_region',
    },
  }),
  JSON.stringify({
    response: {
      plan_reasoning: "The CodeInterpreter computed the totals; they answer the question.",
      ...plan,
      current_plan_step: "2. report the totals and the top region",
      stop: "Completed",
      send_to: "User",
      message:
        `${ranked[0]![0]} had the highest total revenue: ${money(ranked[0]![1])}. Totals per region: ` +
        ranked.map(([region, total]) => `${region} ${money(total)}`).join(", ") +
        ".",
    },
  }),
];

rmSync(cachePath, { force: true });
const server = await startFakeOpenAIServer({ responses: answers });
const app = await createTaskWeaver({
  appDir: projectDir,
  createExecutorFactory,
  env: {},
  configOverrides: {
    "llm.use_mock": true,
    "llm.mock.mode": "record_only",
    "llm.mock.cache_path": cachePath,
    "llm.api_base": server.url,
    "llm.api_key": "recording",
    "llm.model": "demo-model",
  },
});
const session = await app.createSession();
const round = await session.sendMessage(demo.request, {
  files: demo.files.map((file) => ({ name: file.split("/").pop()!, path: join(projectDir, file) })),
});
await app.close();
await server.close();
rmSync(join(projectDir, "workspace", "sessions", session.id), { recursive: true, force: true });
if (round.state !== "finished") {
  console.error(`recording failed: ${session.lastError?.message}`);
  process.exit(1);
}
console.log(`recorded ${answers.length} answers into ${cachePath}`);
console.log(round.post_list.at(-1)?.message);
