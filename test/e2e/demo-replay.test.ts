// `taskweaver --demo` replays project/demo/mock.yaml. Prompts are part of the cache key, so a
// prompt change needs a new recording: `pnpm exec tsx test/scripts/record-demo.ts`.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createTaskWeaver } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";
import { expect, it } from "vitest";
import { REPO_ROOT, TEST_PYTHON } from "../src/index.js";

it("replays the recorded demo round with a real kernel and no model configured", async () => {
  const projectDir = join(REPO_ROOT, "project");
  const demo = JSON.parse(readFileSync(join(projectDir, "demo", "demo.json"), "utf8")) as { request: string; files: string[] };
  const app = await createTaskWeaver({
    appDir: projectDir,
    createExecutorFactory,
    env: {},
    configOverrides: {
      "llm.use_mock": true,
      "llm.mock.mode": "playback_only",
      "llm.mock.cache_path": join(projectDir, "demo", "mock.yaml"),
      "execution_service.python": TEST_PYTHON,
    },
  });
  try {
    const session = await app.createSession();
    const round = await session.sendMessage(demo.request, {
      files: demo.files.map((file) => ({ name: file.split("/").pop()!, path: join(projectDir, file) })),
    });
    expect(round.state, `${session.lastError?.message} (re-record with: pnpm exec tsx test/scripts/record-demo.ts)`).toBe("finished");
    expect(round.post_list).toHaveLength(4);
    // The kernel really ran: its output of the groupby is in the CodeInterpreter's report.
    expect(round.post_list[2]!.message).toMatch(/North\s+13109\.5/);
    expect(round.post_list[3]!.message).toContain("North had the highest total revenue");
  } finally {
    await app.close();
  }
});
