import type * as InkTesting from "ink-testing-library";
import { beforeAll, describe, expect, it } from "vitest";
import type * as PostViewModule from "./post-view.js";
import type * as StatusLineModule from "./status-line.js";

// Colours are decided when Ink's colour library loads, so force them before importing Ink.
// This file runs in its own module graph (vitest isolates test files).
let render: typeof InkTesting.render;
let PostView: typeof PostViewModule.PostView;
let StatusLine: typeof StatusLineModule.StatusLine;

beforeAll(async () => {
  process.env["FORCE_COLOR"] = "1";
  ({ render } = await import("ink-testing-library"));
  ({ PostView } = await import("./post-view.js"));
  ({ StatusLine } = await import("./status-line.js"));
});

const GREEN = "\u001B[32m";
const RED = "\u001B[31m";
const MAGENTA = "\u001B[35m";

const post = (status: string, code = "import os") => ({
  id: "p",
  role: "CodeInterpreter",
  recipient: "Planner",
  message: "",
  status: undefined,
  liveOutput: "",
  ended: true,
  blocks: [
    { key: "a", type: "reply_type" as const, content: "python", done: true },
    { key: "b", type: "reply_content" as const, content: code, done: true },
    { key: "c", type: "execution_status" as const, content: status, done: true },
  ],
});

describe("colours", () => {
  it("shows SUCCESS in green and FAILURE in red", () => {
    expect(render(<PostView post={post("SUCCESS")} />).lastFrame()).toContain(`${GREEN}SUCCESS`);
    expect(render(<PostView post={post("FAILURE")} />).lastFrame()).toContain(`${RED}FAILURE`);
  });

  it("highlights Python keywords in the code block", () => {
    expect(render(<PostView post={post("SUCCESS", "import os")} />).lastFrame()).toContain(
      `${MAGENTA}import`,
    );
  });

  it("labels the demo replay in the status line", () => {
    const frame = render(
      <StatusLine activity={undefined} running={false} elapsedMs={0} frame={0} demo />,
    ).lastFrame()!;
    expect(frame).toContain("[demo replay]");
  });
});
