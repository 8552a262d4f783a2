// A project folder shaped like the original TaskWeaver's sample project (our own fixture): one
// plugin that works, one that imports a module the kernel lacks, one that raises while it is
// imported, examples for roles that are not enabled and one example that is not valid. The
// session must start, report each broken plugin once and briefly, keep it out of the prompt, and
// a call to it anyway must end with the model seeing a clear error and the user an answer.
import { afterAll, beforeAll, expect, it } from "vitest";
import { plannerAnswer, pythonAnswer, runCli, startFakeOpenAIServer, type FakeOpenAIServer } from "../src/index.js";
import { expectFirstRoundWithBrokenPlugins, ORIGINAL_PLAN, prepareOriginalProject } from "./original-project-support.js";

let server: FakeOpenAIServer;
let project: ReturnType<typeof prepareOriginalProject>;

beforeAll(async () => {
  server = await startFakeOpenAIServer();
  project = prepareOriginalProject(server);
});
afterAll(async () => {
  await server.close();
  project.remove();
});

it("runs the working plugin in the first round and reports the two broken ones once on stderr", async () => {
  await expectFirstRoundWithBrokenPlugins(server, project.appDir);
});

it("a call to a broken plugin gives the model a clear error, and the round still ends with an answer", async () => {
  const firstChat = server.chatRequests.length;
  server.enqueue(
    plannerAnswer("CodeInterpreter", "Look up lamps in the catalogue.", ORIGINAL_PLAN),
    pythonAnswer("products = web_lookup('lamp')\nproducts", "Use web_lookup."),
    pythonAnswer("print('web_lookup is not available here')", "The plugin is not available."),
    plannerAnswer("User", "The catalogue search is not available in this session.", ORIGINAL_PLAN),
  );
  const run = await runCli(["-p", project.appDir], { input: ["find lamps in the catalogue"] });
  expect(run.exitCode, run.stdout + run.stderr).toBe(0);
  expect(run.stdout).toContain("TaskWeaver: The catalogue search is not available in this session.");
  // The retry request carries the kernel's error: the plugin's name and the missing module.
  const retry = JSON.stringify(server.chatRequests[firstChat + 2]?.body);
  expect(retry).toContain("PluginUnavailableError");
  expect(retry).toContain("plugin web_lookup is not available in this session");
  expect(retry).toContain("No module named 'taskweaver_fixture_http_client'");
});
