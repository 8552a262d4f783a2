// The examples of README.md and apps/cli/README.md, run as they are written (from the
// repository root, the sample project, its sample data attached) against the fake model and a
// real Python kernel: the scripted code reads the attached file and the row count is right.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  plannerRound,
  REPO_ROOT,
  runCli,
  runCommand,
  startFakeOpenAIServer,
  TEST_PYTHON,
  type FakeOpenAIServer,
} from "../src/index.js";

/** Rows of the sample data, counted here without pandas. */
const ROWS = readFileSync(join(REPO_ROOT, "project/sample_data/demo_data.csv"), "utf8").trim().split("\n").length - 1;
const COUNT_CODE = 'import pandas as pd\ndf = pd.read_csv("demo_data.csv")\nprint(f"rows: {len(df)}")';

let server: FakeOpenAIServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function modelEnvironment(url: string): Record<string, string> {
  return {
    LLM_API_BASE: url,
    LLM_API_KEY: "test-key",
    LLM_MODEL: "fake-model",
    EXECUTION_SERVICE_PYTHON: TEST_PYTHON,
  };
}

/** The lines between a fence opening with `opening` and its end, in a README. */
function fencedBlock(readme: string, opening: string): string {
  const text = readFileSync(join(REPO_ROOT, readme), "utf8");
  const start = text.indexOf(opening);
  expect(start, `${readme} has no block starting with ${opening}`).toBeGreaterThanOrEqual(0);
  return text.slice(start, text.indexOf("```", start + opening.length));
}

describe("the README examples", { timeout: 120_000 }, () => {
  it("the transcript example counts the rows of the attached sample data with the real CLI", async () => {
    const block = fencedBlock("README.md", "```sh\necho \"count the rows");
    const command = 'echo "count the rows of demo_data.csv" | taskweaver -p project --file project/sample_data/demo_data.csv';
    expect(block).toContain(command);
    server = await startFakeOpenAIServer({ responses: plannerRound(COUNT_CODE, `demo_data.csv has ${ROWS} rows.`) });
    // As `taskweaver` (or `pnpm --silent taskweaver`) runs it, from the repository root.
    const run = await runCli(["-p", "project", "--file", "project/sample_data/demo_data.csv"], {
      input: ["count the rows of demo_data.csv"],
      env: modelEnvironment(server.url),
    });
    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    // The kernel read the file the CLI copied into its working directory.
    expect(run.stdout).toContain(`rows: ${ROWS}`);
    expect(run.stdout).toContain(`TaskWeaver: demo_data.csv has ${ROWS} rows.`);
    expect(JSON.stringify(server.chatRequests[0]!.body)).toContain("files added: demo_data.csv");
  });

  it("the library example runs as the README says and prints each post and the answer", async () => {
    const block = fencedBlock("README.md", "```sh\npnpm exec tsx examples/library.ts");
    expect(block).toContain("pnpm exec tsx examples/library.ts");
    const source = readFileSync(join(REPO_ROOT, "examples/library.ts"), "utf8");
    expect(fencedBlock("README.md", "```ts\n")).toContain(source.slice(source.indexOf("import ")).trim());
    server = await startFakeOpenAIServer({ responses: plannerRound(COUNT_CODE, `demo_data.csv has ${ROWS} rows.`) });
    const run = await runCommand("pnpm", ["exec", "tsx", "examples/library.ts"], { env: modelEnvironment(server.url) });
    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain("[User -> Planner] files added: demo_data.csv.\ncount the rows of demo_data.csv");
    expect(run.stdout).toContain(`rows: ${ROWS}`);
    expect(run.stdout).toContain(`Answer: demo_data.csv has ${ROWS} rows.`);
  });

  it("the library example shows the error of a failed round and exits 1", async () => {
    server = await startFakeOpenAIServer({
      responses: [{ status: 400, errorBody: { error: { message: "The model does not exist.", type: "invalid_request_error" } } }],
    });
    const run = await runCommand("pnpm", ["exec", "tsx", "examples/library.ts"], { env: modelEnvironment(server.url) });
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/^The round failed: .*The model does not exist\./m);
  });
});

