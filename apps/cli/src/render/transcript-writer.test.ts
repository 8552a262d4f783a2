import { describe, expect, it } from "vitest";
import { TaskWeaverError, type TaskWeaverEvent } from "@taskweaver/core";
import { COUNT_ROWS_ROUND, eventsForRound } from "../testing/fake-session.js";
import { postViewFromPost } from "./conversation.js";
import { renderPostText } from "./text.js";
import { createTranscriptWriter } from "./transcript-writer.js";

function run(events: TaskWeaverEvent[]) {
  const chunks: string[] = [];
  const writer = createTranscriptWriter({ write: (text) => chunks.push(text) });
  for (const event of events) writer.handle(event);
  return { chunks, text: chunks.join(""), writer };
}

describe("createTranscriptWriter", () => {
  it("prints a round as the classic console blocks", () => {
    const { events } = eventsForRound("s1", "count the rows", COUNT_ROWS_ROUND);
    expect(run(events).text).toBe(
      [
        ">>> [INIT_PLAN]",
        "1. load demo_data.csv",
        "2. count the rows <sequentially depends on 1>",
        "3. report the count",
        ">>> [PLAN]",
        "1. load demo_data.csv and count its rows",
        "2. report the count",
        ">>> [CURRENT_PLAN_STEP]",
        "1. load demo_data.csv and count its rows",
        ">>> [STOP]",
        "InProcess",
        ">>> [PLANNER->CODEINTERPRETER]",
        "Please load demo_data.csv and count its rows.",
        ">>> [THOUGHT]",
        "I will read the file with pandas and take its length.",
        ">>> [PYTHON]",
        "import pandas as pd",
        "df = pd.read_csv('demo_data.csv')",
        "len(df)",
        ">>> [VERIFICATION]",
        "NONE",
        ">>> [STATUS]",
        "SUCCESS",
        ">>> [RESULT]",
        "The execution of the generated python code above has succeeded",
        "",
        "The result of above Python code after execution is:",
        "100",
        ">>> [CODEINTERPRETER->PLANNER]",
        "The code ran: df has 100 rows.",
        ">>> [PLAN]",
        "1. load demo_data.csv and count its rows",
        "2. report the count",
        ">>> [CURRENT_PLAN_STEP]",
        "2. report the count",
        ">>> [STOP]",
        "Completed",
        "TaskWeaver: demo_data.csv has 100 rows.",
        "",
      ].join("\n"),
    );
  });

  it("streams text in many pieces whose sum equals the rendering of the finished posts", () => {
    const { events, round } = eventsForRound("s1", "count the rows", COUNT_ROWS_ROUND);
    const { chunks, text } = run(events);
    const unstreamed = round.post_list.map((post) => renderPostText(postViewFromPost(post))).join("");
    expect(text).toBe(unstreamed);
    // Streaming means text appears before each post ends, not in one piece per post.
    expect(chunks.length).toBeGreaterThan(round.post_list.length * 5);
  });

  it("writes the code block as soon as its first piece arrives", () => {
    const { events } = eventsForRound("s1", "q", COUNT_ROWS_ROUND);
    const chunks: string[] = [];
    const writer = createTranscriptWriter({ write: (text) => chunks.push(text) });
    for (const event of events) {
      writer.handle(event);
      if (event.type === "attachment-delta" && event.attachmentType === "reply_content") break;
    }
    expect(chunks.join("")).toMatch(/>>> \[PYTHON\]\nimport$/);
  });

  it("labels text replies as TEXT and code replies as PYTHON", () => {
    const { events } = eventsForRound("s1", "hi", [
      {
        from: "CodeInterpreter",
        to: "User",
        message: "Hello there.",
        attachments: [
          { type: "thought", content: "No code needed." },
          { type: "reply_type", content: "text" },
          { type: "reply_content", content: "Hello there." },
        ],
      },
    ]);
    expect(run(events).text).toBe(
      ">>> [THOUGHT]\nNo code needed.\n>>> [TEXT]\nHello there.\nTaskWeaver: Hello there.\n",
    );
  });

  it("shows artifact paths one per line", () => {
    const { events } = eventsForRound("s1", "plot", [
      {
        from: "CodeInterpreter",
        to: "Planner",
        message: "Saved the plot.",
        attachments: [{ type: "artifact_paths", content: JSON.stringify(["figure_1.png", "out/table.csv"]) }],
      },
    ]);
    expect(run(events).text).toBe(
      ">>> [ARTIFACT_PATHS]\nfigure_1.png\nout/table.csv\n>>> [CODEINTERPRETER->PLANNER]\nSaved the plot.\n",
    );
  });

  it("ends a failed round with an error line on its own line", () => {
    const { events } = eventsForRound(
      "s1",
      "q",
      [
        {
          from: "Planner",
          to: "CodeInterpreter",
          message: "",
          attachments: [{ type: "plan", content: "1. step" }],
        },
      ],
      new TaskWeaverError("round_limit_exceeded", "The round was stopped after 10 internal steps."),
    );
    // Drop the post-end so the failure arrives in the middle of a streaming post.
    const cut = events.filter((event) => event.type !== "post-end");
    expect(run(cut).text).toBe(
      ">>> [PLAN]\n1. step\nTaskWeaver: [error] The round was stopped after 10 internal steps.\n",
    );
  });

  it("says the round failed when it ends failed without an error event", () => {
    const { events, round } = eventsForRound("s1", "q", []);
    const failed = events.map((event) =>
      event.type === "round-end" ? { ...event, round: { ...round, state: "failed" as const } } : event,
    );
    const { text, writer } = run(failed);
    expect(text).toBe("TaskWeaver: [error] The round failed.\n");
    expect(writer.errorShown).toBe(true);
  });

  it("ends a round with its usage line when the event carries usage", () => {
    const { events } = eventsForRound("s1", "q", [{ from: "Planner", to: "User", message: "done" }]);
    const usage = {
      inputTokens: 1234,
      outputTokens: 210,
      cachedInputTokens: 0,
      modelCalls: 3,
      modelTimeMs: 2100,
      kernelTimeMs: 400,
      costUsd: 0.0123,
      lines: [],
    };
    const withUsage = events.map((event) => (event.type === "round-end" ? { ...event, usage } : event));
    expect(run(withUsage).text).toBe(
      "TaskWeaver: done\n[usage] tokens 1,234 in / 210 out · 3 model calls 2.1 s · kernel 0.4 s · $0.0123\n",
    );
  });

  it("writes a failed round's usage line before its error line", () => {
    const { events, round } = eventsForRound("s1", "q", []);
    const usage = { inputTokens: 10, outputTokens: 2, cachedInputTokens: 0, modelCalls: 1, modelTimeMs: 100, kernelTimeMs: 0, costUsd: undefined, lines: [] };
    const failed = events.map((event): TaskWeaverEvent =>
      event.type === "round-end"
        ? { type: "round-error", sessionId: "s1", roundId: event.roundId, error: { code: "x", message: "Broken." }, round: { ...round, state: "failed" }, usage }
        : event,
    );
    expect(run(failed).text).toBe(
      "[usage] tokens 10 in / 2 out · 1 model call 0.1 s · kernel 0.0 s\nTaskWeaver: [error] Broken.\n",
    );
  });

  it("leaves out the user's own post, already shown as the Human line", () => {
    const { events } = eventsForRound("s1", "q", [{ from: "User", to: "Planner", message: "q" }]);
    expect(run(events).text).toBe("");
  });

  it("still shows every block when the finished post orders blocks differently from the stream", () => {
    const { events } = eventsForRound("s1", "q", [
      {
        from: "Planner",
        to: "CodeInterpreter",
        message: "go",
        attachments: [
          { type: "plan", content: "the plan" },
          { type: "current_plan_step", content: "the step" },
        ],
      },
    ]);
    const reordered = events.map((event) =>
      event.type === "post-end"
        ? { ...event, post: { ...event.post, attachment_list: [...event.post.attachment_list].reverse() } }
        : event,
    );
    const text = run(reordered).text;
    expect(text).toContain(">>> [PLAN]\nthe plan\n");
    expect(text).toContain(">>> [CURRENT_PLAN_STEP]\nthe step\n");
    expect(text).toContain(">>> [PLANNER->CODEINTERPRETER]\ngo\n");
  });
});
