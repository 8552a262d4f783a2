// The sample project's own plugins run in a real kernel, called by name from generated code.
import { cpSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTaskWeaver, findAttachment } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";
import { afterAll, beforeAll, expect, it } from "vitest";
import { REPO_ROOT, startFakeOpenAIServer, TEST_PYTHON, type FakeOpenAIServer } from "../src/index.js";

let server: FakeOpenAIServer;
let appDir: string;
beforeAll(async () => {
  server = await startFakeOpenAIServer();
  appDir = mkdtempSync(join(tmpdir(), "tw-sample-"));
  for (const folder of ["plugins", "examples", "sample_data"]) {
    cpSync(join(REPO_ROOT, "project", folder), join(appDir, folder), { recursive: true });
  }
  cpSync(join(REPO_ROOT, "project", "taskweaver_config.json"), join(appDir, "taskweaver_config.json"));
});
afterAll(async () => {
  await server.close();
  rmSync(appDir, { recursive: true, force: true });
});

it("calls describe_table and bar_chart from generated code, and bar_chart saves its chart as an artifact", async () => {
  const code = [
    "import pandas as pd",
    "sales = pd.read_csv('demo_data.csv')",
    "profile = describe_table(sales)",
    "print(profile.to_string(index=False))",
    "totals = bar_chart(sales, 'region', 'revenue', 'Revenue per region')",
    "totals.round(2).to_dict()",
  ].join("\n");
  server.enqueue(JSON.stringify({ response: { thought: "Use the plugins.", reply_type: "python", reply_content: code } }));
  const app = await createTaskWeaver({
    appDir,
    createExecutorFactory,
    env: {},
    configOverrides: {
      "llm.api_base": server.url,
      "llm.api_key": "k",
      "llm.model": "fake-model",
      "session.roles": ["code_interpreter"],
      "execution_service.python": TEST_PYTHON,
    },
  });
  try {
    const { plugins, problems } = await app.plugins();
    expect(problems).toEqual([]);
    expect(plugins.map((plugin) => plugin.name)).toEqual(["bar_chart", "describe_table", "exchange_rate"]);
    const session = await app.createSession();
    const round = await session.sendMessage("profile and chart the data", {
      files: [{ name: "demo_data.csv", path: join(REPO_ROOT, "project/sample_data/demo_data.csv") }],
    });
    expect(round.state, session.lastError?.message).toBe("finished");
    const reply = round.post_list.at(-1)!;
    expect(findAttachment(reply, "execution_status")?.content).toBe("SUCCESS");
    expect(reply.message).toMatch(/revenue\s+float64\s+0/);
    expect(reply.message).toContain("'North': 13109.5");
    const paths = JSON.parse(findAttachment(reply, "artifact_paths")!.content) as string[];
    expect(paths.some((path) => path.endsWith("revenue_per_region.png"))).toBe(true);
    for (const path of paths) expect(existsSync(join(session.workingDirectory, path))).toBe(true);
    // The plugin-only plugin is not offered as a Python function.
    const systemPrompt = (server.requests.at(-1)!.body as { messages: { content: string }[] }).messages[0]!.content;
    expect(systemPrompt).toContain("bar_chart(");
    expect(systemPrompt).not.toContain("exchange_rate(");
  } finally {
    await app.close();
  }
}, 120_000);
