import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SessionSnapshotSummary } from "@taskweaver/core";
import { render } from "ink-testing-library";
import { describe, expect, it } from "vitest";
import type { ChatSession } from "../app-types.js";
import { COUNT_ROWS_ROUND, createFakeApp } from "../testing/fake-session.js";
import { ChatScreen } from "./chat-screen.js";
import { createChatController } from "./controller.js";
import { loadHistory } from "./history.js";

const tick = (ms = 40) => new Promise((resolve) => setTimeout(resolve, ms));

describe("/save-state typed in the TUI", () => {
  it("saves the session's kernel state, stops its kernel and says what was kept", async () => {
    const directory = mkdtempSync(join(tmpdir(), "tw-tui-save-state-"));
    const calls: string[] = [];
    const app = createFakeApp(() => ({ posts: COUNT_ROWS_ROUND }));
    const createSession = app.createSession.bind(app);
    app.createSession = async (options) => {
      const session: ChatSession = await createSession(options);
      session.saveSnapshot = async (): Promise<SessionSnapshotSummary> => {
        calls.push("save");
        return {
          saved: true,
          path: join(directory, "kernel-snapshot.bin"),
          bytes: 2048,
          createdAt: "2026-12-02T00:00:00.000Z",
          serializer: "dill",
          values: [{ name: "df", type: "DataFrame" }],
          modules: [{ name: "pd", module: "pandas" }],
          lost: [{ name: "handle", reason: "an open file" }],
        };
      };
      session.stopKernel = async () => {
        calls.push("stop");
      };
      return session;
    };
    const controller = createChatController({
      app,
      history: loadHistory(join(directory, "history")),
      cwd: directory,
      onExit: () => undefined,
    });
    const view = render(<ChatScreen controller={controller} />);
    try {
      await controller.start();
      await tick();
      view.stdin.write("/save-state");
      await tick();
      view.stdin.write("\r");
      await tick(120);
      expect(calls).toEqual(["save", "stop"]);
      const screen = view.frames.join("\n");
      expect(screen).toContain("df");
      expect(screen).toContain("pandas as pd");
      expect(screen).toContain("handle");
      expect(screen).not.toContain("Unknown command");
    } finally {
      view.unmount();
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
