import { render } from "ink-testing-library";
import { describe, expect, it } from "vitest";
import { postViewFromPost, type PostView as PostModel } from "../render/conversation.js";
import { PostView } from "./post-view.js";

function post(fields: Partial<PostModel> & { attachments?: [string, string][] }): PostModel {
  const base = postViewFromPost({
    id: "post-1",
    send_from: "CodeInterpreter",
    send_to: "Planner",
    message: "",
    attachment_list: (fields.attachments ?? []).map(([type, content], index) => ({
      id: `atta-${index}`,
      type: type as never,
      content,
    })),
  });
  return { ...base, ...fields };
}

describe("PostView", () => {
  it("shows each attachment as a >>> [TYPE] block and the message as [SENDER->RECIPIENT]", () => {
    const view = render(
      <PostView
        post={post({
          message: "Done: 42.",
          attachments: [
            ["thought", "Multiply."],
            ["reply_type", "python"],
            ["reply_content", "x = 6 * 7\nx"],
            ["verification", "NONE"],
            ["execution_status", "SUCCESS"],
            ["execution_result", "42"],
          ],
        })}
      />,
    );
    expect(view.lastFrame()).toBe(
      [
        ">>> [THOUGHT]",
        "Multiply.",
        ">>> [PYTHON]",
        "x = 6 * 7",
        "x",
        ">>> [VERIFICATION]",
        "NONE",
        ">>> [STATUS]",
        "SUCCESS",
        ">>> [RESULT]",
        "42",
        ">>> [CODEINTERPRETER->PLANNER]",
        "Done: 42.",
      ].join("\n"),
    );
  });

  it("shows the answer to the user as a TaskWeaver: line", () => {
    const view = render(
      <PostView
        post={post({
          role: "Planner",
          recipient: "User",
          message: "There are 100 rows.",
          attachments: [["plan", "1. count"]],
        })}
      />,
    );
    expect(view.lastFrame()).toBe(">>> [PLAN]\n1. count\nTaskWeaver: There are 100 rows.");
  });

  it("folds a long result to its first lines and says how to see the rest", () => {
    const result = Array.from({ length: 40 }, (_, index) => `row ${index}`).join("\n");
    const frame = render(
      <PostView post={post({ attachments: [["execution_result", result]] })} />,
    ).lastFrame()!;
    expect(frame).toContain("row 11\n... 28 more lines (type /expand to see all)");
    expect(frame).not.toContain("row 12");
  });

  it("links artifact paths to their files in the session's working directory", () => {
    const frame = render(
      <PostView
        post={post({ attachments: [["artifact_paths", JSON.stringify(["figure 1.png", "/abs/table.csv"])]] })}
        workingDirectory="/work/sessions/s1/cwd"
      />,
    ).lastFrame()!;
    expect(frame).toContain(
      "\u001B]8;;file:///work/sessions/s1/cwd/figure%201.png\u0007figure 1.png\u001B]8;;\u0007",
    );
    expect(frame).toContain("\u001B]8;;file:///abs/table.csv\u0007/abs/table.csv\u001B]8;;\u0007");
  });

  it("shows output of running code while the post streams, until the result arrives", () => {
    const streaming = post({
      ended: false,
      recipient: undefined,
      liveOutput: "step 1\nstep 2\n",
      attachments: [["reply_content", "run()"]],
    });
    const frame = render(<PostView post={streaming} streaming />).lastFrame()!;
    expect(frame).toContain("... output so far:\nstep 1\nstep 2");
    const done = post({ liveOutput: "step 1\n", attachments: [["execution_result", "ok"]] });
    expect(render(<PostView post={done} streaming />).lastFrame()).not.toContain("output so far");
  });

  it("marks a post that was stopped by an interrupt", () => {
    const frame = render(
      <PostView post={post({ ended: false, attachments: [["thought", "Sleeping."]] })} interrupted />,
    ).lastFrame()!;
    expect(frame).toContain("(CodeInterpreter was stopped here)");
  });
});
