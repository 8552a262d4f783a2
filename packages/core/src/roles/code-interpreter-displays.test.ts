import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTaskWeaver } from "../app.js";
import type { RichDisplay } from "../executor/contract.js";
import { createFakeExecutor } from "../testing/fake-executor.js";
import { answers, createScriptedModel } from "../testing/scripted-model.js";
import { MAX_HTML_DISPLAY_CHARS } from "./code-interpreter.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

async function runWithDisplays(displays: RichDisplay[]) {
  const directory = mkdtempSync(join(tmpdir(), "tw-displays-"));
  directories.push(directory);
  writeFileSync(join(directory, "taskweaver_config.json"), "{}");
  const app = await createTaskWeaver({
    appDir: directory,
    env: {},
    languageModel: createScriptedModel([
      answers.planner({ send_to: "CodeInterpreter", message: "show the table" }),
      answers.python("df"),
      answers.planner({ send_to: "User", message: "done" }),
    ]),
    executorFactory: () => createFakeExecutor(() => ({ output: "   a\n0  1", displays })),
  });
  const session = await app.createSession({ warmUp: false });
  const round = await session.sendMessage("show");
  await session.stop();
  const result = round.post_list
    .flatMap((post) => post.attachment_list)
    .find((attachment) => attachment.type === "execution_result");
  return result?.extra as { html?: string[] } | undefined;
}

describe("the CodeInterpreter's rich HTML displays", () => {
  it("keeps a display's text/html with the execution result, for frontends to draw", async () => {
    const extra = await runWithDisplays([
      { data: { "text/plain": "   a\n0  1", "text/html": "<table><tr><td>1</td></tr></table>" } },
      { data: { "text/plain": "just text" } },
    ]);
    expect(extra?.html).toEqual(["<table><tr><td>1</td></tr></table>"]);
  });

  it("leaves out a display that would pass the cap whole, and keeps the ones that fit", async () => {
    const big = `<table>${"x".repeat(MAX_HTML_DISPLAY_CHARS)}</table>`;
    const extra = await runWithDisplays([
      { data: { "text/html": big } },
      { data: { "text/html": "<table>small</table>" } },
    ]);
    expect(extra?.html).toEqual(["<table>small</table>"]);
  });
});
