// The console's `/save-state` on a real session and local kernel: the state is saved to the
// session's folder, the kernel stops, and the next message's kernel restores it, the model
// being told what came back.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createTaskWeaver } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { saveState } from "../../apps/cli/src/tui/commands.js";
import { createTestAppDir, startFakeOpenAIServer, type FakeOpenAIServer } from "../src/index.js";
import {
  USE_STATE_OUTPUT,
  enqueueBuild,
  enqueueUse,
  executionResult,
  expectRestoreNote,
  promptOf,
} from "./snapshot-support.js";

let model: FakeOpenAIServer;
beforeAll(async () => {
  model = await startFakeOpenAIServer({ chunkSize: 64 });
});
afterAll(async () => {
  await model?.close();
});

describe("/save-state in the console", () => {
  it(
    "saves the kernel's state, stops the kernel, and the next message gets it back",
    { timeout: 180_000 },
    async () => {
      const dir = createTestAppDir({
        config: { "llm.api_base": model.url, "llm.api_key": "k", "llm.model": "fake-model" },
      });
      const app = await createTaskWeaver({
        appDir: dir.path,
        createExecutorFactory: (config) => createExecutorFactory(config),
      });
      try {
        const session = await app.createSession();
        enqueueBuild(model);
        expect(executionResult(await session.sendMessage("which city is biggest?"))).toContain("Lima");

        const notice = await saveState(session);
        const path = join(dir.path, "workspace", "sessions", session.id, "kernel-snapshot.bin");
        expect(notice.tone).toBe("warning");
        expect(notice.text).toContain(`Saved the kernel's state (df, biggest, total, pandas as pd; `);
        expect(notice.text).toContain(path);
        expect(notice.text).toMatch(/Not saved: countdown \(cannot be pickled .*\); log_file \(an open file/);
        expect(existsSync(path)).toBe(true);

        const before = model.chatRequests.length;
        enqueueUse(model);
        const used = await session.sendMessage("and now?");
        expect(executionResult(used)).toContain(USE_STATE_OUTPUT);
        expectRestoreNote(promptOf(model, before));
        expect(session.lastSnapshotRestore?.error).toBeUndefined();
      } finally {
        await app.close();
        dir.remove();
      }
    },
  );
});
