// `taskweaver --demo` knows one recorded request. A question of the user's own has no recorded
// answer: the real CLI (transcript mode, the sample project's real recording, a real kernel)
// must say what the demo knows and how to use a real model, not print a cache key.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { REPO_ROOT, runCli } from "../src/index.js";

const demo = JSON.parse(readFileSync(join(REPO_ROOT, "project/demo/demo.json"), "utf8")) as { request: string };

it("in --demo, answers an own question with the recorded request and how to use a real model", { timeout: 90_000 }, async () => {
  const run = await runCli(["--demo"], { input: ["what is 2+2?"] });
  expect(run.stderr).toBe("");
  expect(run.exitCode).toBe(1);
  expect(run.stdout).toContain("Human: what is 2+2?\n");
  const error = run.stdout.slice(run.stdout.indexOf("TaskWeaver: [error]"));
  expect(error).toContain(`knows only its recorded request:\n  ${demo.request}\n`);
  expect(error).toContain("LLM_API_KEY and LLM_MODEL");
  expect(error).toMatch(/run `(taskweaver|pnpm --silent taskweaver) -p DIR` without --demo/);
  expect(error).not.toMatch(/cache|playback_only|key [0-9a-f]{32}/);
});
