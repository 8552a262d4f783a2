import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ExecutionApprovalDecision } from "@taskweaver/core";
import { render } from "ink-testing-library";
import { describe, expect, it } from "vitest";
import { COUNT_ROWS_ROUND, createFakeApp } from "../testing/fake-session.js";
import type { ExternalEditOptions } from "./approval-prompt.js";
import { ChatScreen } from "./chat-screen.js";
import { createChatController } from "./controller.js";
import { loadHistory } from "./history.js";

const tick = (ms = 40) => new Promise((resolve) => setTimeout(resolve, ms));
const CODE = "import pandas as pd\nprint(len(pd.read_csv('demo.csv')))";

/** A TUI whose round asks once for approval of CODE, then plays the scripted round. */
async function setup(
  options: {
    editor?: string;
    edit?: (options: ExternalEditOptions) => string | undefined;
    approveAll?: boolean;
  } = {},
) {
  const decisions: ExecutionApprovalDecision[] = [];
  const abort = new AbortController();
  const app = createFakeApp(async (_message, sendOptions) => {
    const decision = await sendOptions.approveExecution!({
      code: CODE,
      problems: [{ line: 2, message: "reads a file" }],
      role: "CodeInterpreter",
      sessionId: "s",
      roundId: "r",
      approvalId: "approval-1",
      signal: abort.signal,
    });
    decisions.push(decision);
    return { posts: COUNT_ROWS_ROUND };
  });
  const controller = createChatController({
    app,
    history: loadHistory(join(mkdtempSync(join(tmpdir(), "tw-tui-")), "history")),
    approveAll: options.approveAll ?? false,
  });
  const view = render(
    <ChatScreen
      controller={controller}
      {...(options.editor ? { editor: options.editor } : {})}
      {...(options.edit ? { editExternally: options.edit } : {})}
    />,
  );
  await controller.start();
  await tick();
  const press = async (keys: string, ms = 60) => {
    view.stdin.write(keys);
    await tick(ms);
  };
  const ask = async () => {
    await press("count the rows");
    await press("\r", 120);
  };
  return { app, controller, view, press, ask, decisions, abort, frame: () => view.lastFrame() ?? "" };
}

describe("asking before code runs in the TUI", () => {
  it("shows the code, the verification problems and the keys, and y runs it", async () => {
    const { ask, press, frame, decisions, controller } = await setup();
    await ask();
    expect(frame()).toContain("CodeInterpreter wants to run this code:");
    expect(frame()).toContain("print(len(pd.read_csv('demo.csv')))");
    expect(frame()).toContain("line 2: reads a file");
    expect(frame()).toContain("[y] run  [n] reject  [e] edit");
    // Typing goes to the question, not to the message input.
    await press("x");
    expect(decisions).toEqual([]);
    await press("y", 150);
    expect(decisions).toEqual([{ decision: "approve" }]);
    expect(frame()).not.toContain("wants to run this code");
    expect(controller.getState().approval).toBeUndefined();
  });

  it("n asks for an optional reason and rejects with it", async () => {
    const { ask, press, frame, decisions } = await setup();
    await ask();
    await press("n");
    expect(frame()).toContain("Why not? (optional, Enter to reject):");
    await press("use the sample instead");
    await press("\r", 150);
    expect(decisions).toEqual([{ decision: "reject", reason: "use the sample instead" }]);
  });

  it("e edits in the TUI's own editor when no editor is set; Ctrl-D runs the edited code", async () => {
    const { ask, press, frame, decisions } = await setup();
    await ask();
    await press("e");
    expect(frame()).toContain("Ctrl-D: run it");
    // The cursor starts at the end: add a line, then change the first line.
    await press("\r");
    await press("print('done')");
    await press("\u001B[A");
    await press("\u001B[A");
    await press("\u0001");
    await press("# edited\r");
    await press("\u0004", 150);
    expect(decisions).toEqual([
      {
        decision: "approve",
        code: "# edited\nimport pandas as pd\nprint(len(pd.read_csv('demo.csv')))\nprint('done')",
      },
    ]);
  });

  it("e opens $EDITOR with the code and approves what was saved", async () => {
    const seen: ExternalEditOptions[] = [];
    const { ask, press, decisions } = await setup({
      editor: "vi",
      edit: (options) => {
        seen.push(options);
        return "print('edited')";
      },
    });
    await ask();
    await press("e", 150);
    expect(seen.map((options) => [options.editor, options.code])).toEqual([["vi", CODE]]);
    expect(decisions).toEqual([{ decision: "approve", code: "print('edited')" }]);
  });

  it("keeps asking when the editor fails", async () => {
    const { ask, press, frame, decisions } = await setup({ editor: "false", edit: () => undefined });
    await ask();
    await press("e", 100);
    expect(decisions).toEqual([]);
    expect(frame()).toContain("The editor (false) failed; the code is unchanged.");
    expect(frame()).toContain("[y] run");
  });

  it("Ctrl-C while asked rejects the code and stops the round", async () => {
    const { ask, press, decisions, app } = await setup();
    await ask();
    await press("\u0003", 150);
    expect(decisions).toEqual([{ decision: "reject", reason: "The user stopped the round." }]);
    expect(app.sessions[0]!.interrupted).toBe(1);
  });

  it("takes the question away when the round stops waiting (timeout)", async () => {
    const { ask, frame, abort, controller } = await setup();
    await ask();
    expect(controller.getState().approval?.approvalId).toBe("approval-1");
    abort.abort();
    await tick(100);
    expect(controller.getState().approval).toBeUndefined();
    expect(frame()).not.toContain("wants to run this code");
  });

  it("--yes approves without asking", async () => {
    const { ask, decisions, frame } = await setup({ approveAll: true });
    await ask();
    expect(decisions).toEqual([{ decision: "approve" }]);
    expect(frame()).not.toContain("wants to run this code");
  });
});
