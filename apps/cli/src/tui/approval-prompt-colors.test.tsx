import type * as InkTesting from "ink-testing-library";
import { beforeAll, describe, expect, it } from "vitest";
import type * as ApprovalPromptModule from "./approval-prompt.js";

// Colours are decided when Ink's colour library loads, so force them before importing Ink.
let render: typeof InkTesting.render;
let ApprovalPrompt: typeof ApprovalPromptModule.ApprovalPrompt;

beforeAll(async () => {
  process.env["FORCE_COLOR"] = "1";
  ({ render } = await import("ink-testing-library"));
  ({ ApprovalPrompt } = await import("./approval-prompt.js"));
});

const MAGENTA = "\u001B[35m";
const GREEN = "\u001B[32m";

describe("the approval question's colours", () => {
  it("highlights the code it asks about as Python", () => {
    const view = render(
      <ApprovalPrompt
        approval={{ approvalId: "a", role: "CodeInterpreter", code: "import os\nprint('hi')", problems: [] }}
        onDecision={() => {}}
        onInterrupt={() => {}}
      />,
    );
    const frame = view.lastFrame() ?? "";
    expect(frame).toContain(`${MAGENTA}import`);
    expect(frame).toContain(`${GREEN}'hi'`);
    view.unmount();
  });
});
