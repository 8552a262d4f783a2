import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RoundUsage, TaskWeaverEvent } from "@taskweaver/core";
import { render } from "ink-testing-library";
import { describe, expect, it } from "vitest";
import type { ChatSession } from "../app-types.js";
import { COUNT_ROWS_ROUND, createFakeApp } from "../testing/fake-session.js";
import { ChatScreen } from "./chat-screen.js";
import { createChatController } from "./controller.js";
import { loadHistory } from "./history.js";

const tick = (ms = 40) => new Promise((resolve) => setTimeout(resolve, ms));

const usage: RoundUsage = {
  inputTokens: 1234,
  outputTokens: 210,
  cachedInputTokens: 0,
  modelCalls: 3,
  modelTimeMs: 2100,
  kernelTimeMs: 400,
  costUsd: 0.0123,
  lines: [
    { model: "gpt-test", role: "Planner", inputTokens: 1000, outputTokens: 150, cachedInputTokens: 0, modelCalls: 2, modelTimeMs: 1500, costUsd: 0.01 },
    { model: "gpt-test", role: "CodeInterpreter", inputTokens: 234, outputTokens: 60, cachedInputTokens: 0, modelCalls: 1, modelTimeMs: 600, costUsd: 0.0023 },
  ],
};

/** A fake app whose round-end events carry `usage`, as the core's do. */
function appWithUsage() {
  const app = createFakeApp(() => ({ posts: COUNT_ROWS_ROUND }));
  const createSession = app.createSession.bind(app);
  app.createSession = async (options) => {
    const session: ChatSession = await createSession(options);
    const send = session.sendMessage.bind(session);
    session.sendMessage = (message, sendOptions = {}) =>
      send(message, {
        ...sendOptions,
        onEvent: (event: TaskWeaverEvent) => sendOptions.onEvent?.(event.type === "round-end" ? { ...event, usage } : event),
      });
    return session;
  };
  return app;
}

describe("usage in the TUI", () => {
  it("shows a one-line summary after each round and the session's totals in /info", async () => {
    const directory = mkdtempSync(join(tmpdir(), "tw-tui-usage-"));
    const controller = createChatController({
      app: appWithUsage(),
      history: loadHistory(join(directory, "history")),
      cwd: directory,
      onExit: () => undefined,
    });
    const view = render(<ChatScreen controller={controller} />);
    await controller.start();
    await tick();
    const type = async (text: string) => {
      view.stdin.write(text);
      await tick();
      view.stdin.write("\r");
      await tick(80);
    };
    await type("count the rows");
    const screen = () => view.frames.join("\n");
    expect(screen()).toContain("tokens 1,234 in / 210 out · 3 model calls 2.1 s · kernel 0.4 s · $0.0123");
    await type("again");
    await type("/info");
    expect(screen()).toContain("Usage:    2 rounds: tokens 2,468 in / 420 out · 6 model calls 4.2 s · kernel 0.8 s · $0.0246");
    expect(screen()).toContain("Planner (gpt-test): 2,000 in / 300 out · 4 calls 3.0 s · $0.0200");
    expect(screen()).toContain("CodeInterpreter (gpt-test): 468 in / 120 out · 2 calls 1.2 s · $0.0046");
    view.unmount();
    rmSync(directory, { recursive: true, force: true });
  });
});
