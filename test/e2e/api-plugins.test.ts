// The API with the fixture project shaped like the original's (see original-project.test.ts):
// the session lists each plugin's state, the round's event log carries a plugin-status event
// naming the two broken plugins, and the working plugin runs in the first round.
import type { TaskWeaverEvent } from "@taskweaver/core";
import type { ApiServer } from "@taskweaver/api";
import { afterAll, beforeAll, expect, it } from "vitest";
import { plannerAnswer, pythonAnswer, startFakeOpenAIServer, startTestApiServer, type FakeOpenAIServer } from "../src/index.js";
import { ORIGINAL_PLAN, prepareOriginalProject } from "./original-project-support.js";

let model: FakeOpenAIServer;
let project: ReturnType<typeof prepareOriginalProject>;
let server: ApiServer;

beforeAll(async () => {
  model = await startFakeOpenAIServer();
  project = prepareOriginalProject(model);
  server = await startTestApiServer(project.appDir);
}, 60_000);
afterAll(async () => {
  await server?.close();
  await model?.close();
  project?.remove();
}, 60_000);

const api = (path: string) => `${server.url}/api/v1${path}`;

it("lists each plugin's state in the session and reports the broken ones as an event of the round", { timeout: 120_000 }, async () => {
  const created = await fetch(api("/sessions"), { method: "POST" });
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };

  model.enqueue(
    plannerAnswer("CodeInterpreter", "Build a small table and add up its amount column.", ORIGINAL_PLAN),
    pythonAnswer(
      "import pandas as pd\ndf = pd.DataFrame({'amount': [10, 20.5, 12]})\ntotal, description = column_total(df, 'amount')\ndescription",
      "Use column_total.",
    ),
    plannerAnswer("User", "The amounts add up to 42.5.", ORIGINAL_PLAN),
  );
  const sent = await fetch(api(`/sessions/${id}/messages`), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message: "add up the amounts" }),
  });
  expect(sent.status).toBe(200);
  const round = (await sent.json()) as { state: string; post_list: { message: string }[] };
  expect(round.state).toBe("finished");
  expect(round.post_list.at(-1)?.message).toBe("The amounts add up to 42.5.");
  expect(JSON.stringify(round)).toContain("The column amount adds up to 42.5 over 3 rows.");

  const session = (await (await fetch(api(`/sessions/${id}`))).json()) as {
    plugins: { name: string; loaded: boolean; error?: string }[];
  };
  expect(session.plugins).toEqual([
    { name: "column_total", loaded: true },
    { name: "ticket_tracker", loaded: false, error: "RuntimeError: the ticket service address is not configured" },
    { name: "web_lookup", loaded: false, error: "ModuleNotFoundError: No module named 'taskweaver_fixture_http_client'" },
  ]);

  const { events } = (await (await fetch(api(`/sessions/${id}/events`))).json()) as {
    events: { id: number; event: TaskWeaverEvent }[];
  };
  const statuses = events.filter((item) => item.event.type === "plugin-status");
  expect(statuses).toHaveLength(1);
  const status = statuses[0]!.event as Extract<TaskWeaverEvent, { type: "plugin-status" }>;
  expect(status.roundId).toBe(events[0]!.event.roundId);
  expect(status.plugins.filter((plugin) => !plugin.loaded)).toEqual([
    expect.objectContaining({ name: "ticket_tracker", file: "plugins/ticket_tracker.py" }),
    expect.objectContaining({ name: "web_lookup", file: "plugins/web_lookup.py", hint: expect.stringContaining("apt-get install") }),
  ]);
  // Never the plugin's source.
  expect(JSON.stringify(events)).not.toContain("import taskweaver_fixture_http_client as http_client");

  // The model was not offered the broken plugins.
  const interpreterPrompt = JSON.stringify(model.chatRequests.at(-2)?.body);
  expect(interpreterPrompt).toContain("column_total");
  expect(interpreterPrompt).not.toContain("web_lookup");
});
