import type { Attachment, AttachmentType, Post, Round, TaskWeaverEvent } from "@taskweaver/core";
import { readUIMessageStream, type UIMessage } from "ai";
import { describe, expect, it } from "vitest";
import { createUiMessageChunkMapper, type TaskWeaverUiMessageChunk } from "./chunk-mapper.js";

const ids = { sessionId: "s1", roundId: "r1" };
const round: Round = { id: "r1", user_query: "q", state: "finished", post_list: [] };

const postStart = (postId: string, role: string): TaskWeaverEvent => ({
  type: "post-start",
  ...ids,
  postId,
  role,
});
const recipient = (postId: string, sendTo: string): TaskWeaverEvent => ({
  type: "post-recipient",
  ...ids,
  postId,
  sendTo,
});
const delta = (postId: string, text: string): TaskWeaverEvent => ({
  type: "post-delta",
  ...ids,
  postId,
  delta: text,
});
const piece = (postId: string, type: AttachmentType, id: string, text: string): TaskWeaverEvent => ({
  type: "attachment-delta",
  ...ids,
  postId,
  attachmentId: id,
  attachmentType: type,
  delta: text,
  done: false,
});
const whole = (
  postId: string,
  type: AttachmentType,
  id: string,
  content: string,
  extra?: unknown,
): TaskWeaverEvent => {
  const attachment: Attachment = { id, type, content, ...(extra === undefined ? {} : { extra }) };
  return {
    type: "attachment-delta",
    ...ids,
    postId,
    attachmentId: id,
    attachmentType: type,
    delta: "",
    done: true,
    attachment,
  };
};
const postEnd = (postId: string, from: string, to: string, message: string): TaskWeaverEvent => {
  const post: Post = { id: postId, send_from: from, send_to: to, message, attachment_list: [] };
  return { type: "post-end", ...ids, post };
};

const fileUrl = (path: string) => `/api/v1/sessions/s1/files/${path}`;

function mapAll(events: TaskWeaverEvent[]): TaskWeaverUiMessageChunk[] {
  const mapper = createUiMessageChunkMapper({ fileUrl });
  return events.flatMap((event) => mapper.map(event));
}

const cases: { name: string; events: TaskWeaverEvent[]; chunks: TaskWeaverUiMessageChunk[] }[] = [
  {
    name: "a round's start becomes `start` with the round id as the message id",
    events: [{ type: "round-start", ...ids, userQuery: "q" }],
    chunks: [{ type: "start", messageId: "r1" }],
  },
  {
    name: "each post is one step",
    events: [postStart("p1", "Planner"), postEnd("p1", "Planner", "CodeInterpreter", "")],
    chunks: [{ type: "start-step" }, { type: "finish-step" }],
  },
  {
    name: "a status is a transient data-status part",
    events: [{ type: "post-status", ...ids, postId: "p1", role: "Planner", status: "calling the model" }],
    chunks: [
      { type: "data-status", data: { role: "Planner", status: "calling the model" }, transient: true },
    ],
  },
  {
    name: "the message to the user streams as text, once its recipient is known",
    events: [
      postStart("p1", "Planner"),
      delta("p1", "The "),
      recipient("p1", "User"),
      delta("p1", "answer"),
      postEnd("p1", "Planner", "User", "The answer"),
    ],
    chunks: [
      { type: "start-step" },
      { type: "text-start", id: "p1" },
      { type: "text-delta", id: "p1", delta: "The " },
      { type: "text-delta", id: "p1", delta: "answer" },
      { type: "text-end", id: "p1" },
      { type: "finish-step" },
    ],
  },
  {
    name: "a message to the user set whole at the end is sent at the post's end",
    events: [postStart("p1", "Planner"), postEnd("p1", "Planner", "User", "Done.")],
    chunks: [
      { type: "start-step" },
      { type: "text-start", id: "p1" },
      { type: "text-delta", id: "p1", delta: "Done." },
      { type: "text-end", id: "p1" },
      { type: "finish-step" },
    ],
  },
  {
    name: "the Planner's instruction to a worker is not text for the user",
    events: [delta("p1", "Count the rows"), recipient("p1", "CodeInterpreter")],
    chunks: [],
  },
  {
    name: "a streamed plan is a reasoning part tagged with its attachment type",
    events: [
      piece("p1", "init_plan", "a1", "1. load"),
      piece("p1", "init_plan", "a1", "\n2. count"),
      whole("p1", "init_plan", "a1", "1. load\n2. count"),
    ],
    chunks: [
      {
        type: "reasoning-start",
        id: "a1",
        providerMetadata: { taskweaver: { attachmentType: "init_plan", role: "unknown" } },
      },
      { type: "reasoning-delta", id: "a1", delta: "1. load" },
      { type: "reasoning-delta", id: "a1", delta: "\n2. count" },
      { type: "reasoning-end", id: "a1" },
    ],
  },
  {
    name: "a thought added whole is a whole reasoning part",
    events: [postStart("p2", "CodeInterpreter"), whole("p2", "thought", "a2", "I will count.")],
    chunks: [
      { type: "start-step" },
      {
        type: "reasoning-start",
        id: "a2",
        providerMetadata: { taskweaver: { attachmentType: "thought", role: "CodeInterpreter" } },
      },
      { type: "reasoning-delta", id: "a2", delta: "I will count." },
      { type: "reasoning-end", id: "a2" },
    ],
  },
  {
    name: "python code streams as the tool input `{code}`, then is available whole",
    events: [
      piece("p2", "reply_type", "t", "python"),
      piece("p2", "reply_content", "c", 'print("a")'),
      piece("p2", "reply_content", "c", "\n"),
      whole("p2", "reply_type", "t", "python"),
      whole("p2", "reply_content", "c", 'print("a")\n'),
    ],
    chunks: [
      { type: "tool-input-start", toolCallId: "c", toolName: "python" },
      { type: "tool-input-delta", toolCallId: "c", inputTextDelta: '{"code":"' },
      { type: "tool-input-delta", toolCallId: "c", inputTextDelta: 'print(\\"a\\")' },
      { type: "tool-input-delta", toolCallId: "c", inputTextDelta: "\\n" },
      { type: "tool-input-available", toolCallId: "c", toolName: "python", input: { code: 'print("a")\n' } },
    ],
  },
  {
    name: "printed output is preliminary output; a successful result is the tool's output",
    events: [
      whole("p2", "reply_type", "t", "python"),
      whole("p2", "reply_content", "c", "print(1)"),
      { type: "execution-output", ...ids, postId: "p2", stream: "stdout", text: "1\n" },
      whole("p2", "execution_status", "s", "SUCCESS"),
      whole("p2", "execution_result", "e", "The execution of the generated python code above has succeeded"),
    ],
    chunks: [
      { type: "tool-input-start", toolCallId: "c", toolName: "python" },
      { type: "tool-input-delta", toolCallId: "c", inputTextDelta: '{"code":"' },
      { type: "tool-input-available", toolCallId: "c", toolName: "python", input: { code: "print(1)" } },
      { type: "tool-output-available", toolCallId: "c", output: "1\n", preliminary: true },
      {
        type: "tool-output-available",
        toolCallId: "c",
        output: "The execution of the generated python code above has succeeded",
      },
    ],
  },
  {
    name: "a DataFrame's rich HTML display follows the tool's output as an HTML file part",
    events: [
      whole("p2", "reply_type", "t", "python"),
      whole("p2", "reply_content", "c", "df"),
      whole("p2", "execution_status", "s", "SUCCESS"),
      whole("p2", "execution_result", "e", "   a\n0  1", { html: ["<table><td>1</td></table>"] }),
    ],
    chunks: [
      { type: "tool-input-start", toolCallId: "c", toolName: "python" },
      { type: "tool-input-delta", toolCallId: "c", inputTextDelta: '{"code":"' },
      { type: "tool-input-available", toolCallId: "c", toolName: "python", input: { code: "df" } },
      { type: "tool-output-available", toolCallId: "c", output: "   a\n0  1" },
      {
        type: "file",
        url: `data:text/html;base64,${Buffer.from("<table><td>1</td></table>").toString("base64")}`,
        mediaType: "text/html",
      },
    ],
  },
  {
    name: "a failed execution is a tool output error with the result text",
    events: [
      whole("p2", "reply_type", "t", "python"),
      whole("p2", "reply_content", "c", "1/0"),
      whole("p2", "execution_status", "s", "FAILURE"),
      whole("p2", "execution_result", "e", "ZeroDivisionError: division by zero"),
    ],
    chunks: [
      { type: "tool-input-start", toolCallId: "c", toolName: "python" },
      { type: "tool-input-delta", toolCallId: "c", inputTextDelta: '{"code":"' },
      { type: "tool-input-available", toolCallId: "c", toolName: "python", input: { code: "1/0" } },
      { type: "tool-output-error", toolCallId: "c", errorText: "ZeroDivisionError: division by zero" },
    ],
  },
  {
    name: "code that breaks the verification rules is a tool output error naming them",
    events: [
      whole("p2", "reply_type", "t", "python"),
      whole("p2", "reply_content", "c", "import os"),
      whole("p2", "verification", "v", "INCORRECT"),
      whole("p2", "code_error", "x", "line 1: import of os is not allowed"),
      whole("p2", "execution_status", "s", "NONE"),
    ],
    chunks: [
      { type: "tool-input-start", toolCallId: "c", toolName: "python" },
      { type: "tool-input-delta", toolCallId: "c", inputTextDelta: '{"code":"' },
      { type: "tool-input-available", toolCallId: "c", toolName: "python", input: { code: "import os" } },
      {
        type: "tool-output-error",
        toolCallId: "c",
        errorText: "The code was not run because it breaks these rules:\nline 1: import of os is not allowed",
      },
    ],
  },
  {
    name: "streamed code dropped with an unusable answer is a tool input error at the post's end",
    events: [
      postStart("p2", "CodeInterpreter"),
      piece("p2", "reply_type", "t", "python"),
      piece("p2", "reply_content", "c", "x ="),
      postEnd("p2", "CodeInterpreter", "CodeInterpreter", ""),
    ],
    chunks: [
      { type: "start-step" },
      { type: "tool-input-start", toolCallId: "c", toolName: "python" },
      { type: "tool-input-delta", toolCallId: "c", inputTextDelta: '{"code":"' },
      { type: "tool-input-delta", toolCallId: "c", inputTextDelta: "x =" },
      {
        type: "tool-input-error",
        toolCallId: "c",
        toolName: "python",
        input: { code: "x =" },
        errorText: "The model's answer could not be used, so this code was not run.",
      },
      { type: "finish-step" },
    ],
  },
  {
    name: "a worker's text reply is reasoning, not a tool call",
    events: [
      piece("p2", "reply_type", "t", "text"),
      piece("p2", "reply_content", "c", "There are 3 rows."),
      whole("p2", "reply_type", "t", "text"),
      whole("p2", "reply_content", "c", "There are 3 rows."),
    ],
    chunks: [
      {
        type: "reasoning-start",
        id: "c",
        providerMetadata: { taskweaver: { attachmentType: "reply_content", role: "unknown" } },
      },
      { type: "reasoning-delta", id: "c", delta: "There are 3 rows." },
      { type: "reasoning-end", id: "c" },
    ],
  },
  {
    name: "artifacts are file parts at the download route with their media type",
    events: [
      whole("p2", "artifact_paths", "f", '["chart.png","out/table.csv"]', {
        artifacts: [
          { name: "chart", type: "image", mimeType: "image/png", path: "chart.png", description: "" },
          { name: "table", type: "file", mimeType: "text/csv", path: "out/table.csv", description: "" },
        ],
      }),
    ],
    chunks: [
      { type: "file", url: "/api/v1/sessions/s1/files/chart.png", mediaType: "image/png" },
      { type: "file", url: "/api/v1/sessions/s1/files/out/table.csv", mediaType: "text/csv" },
    ],
  },
  {
    name: "artifact paths without details get the media type of their extension",
    events: [whole("p2", "artifact_paths", "f", '["plot.svg"]')],
    chunks: [{ type: "file", url: "/api/v1/sessions/s1/files/plot.svg", mediaType: "image/svg+xml" }],
  },
  {
    name: "a finished round is `finish`",
    events: [{ type: "round-end", ...ids, round }],
    chunks: [{ type: "finish", finishReason: "stop" }],
  },
  {
    name: "a failed round closes what is open, then is `error` and `finish`",
    events: [
      piece("p1", "plan", "a1", "1. x"),
      { type: "round-error", ...ids, error: { code: "llm_error", message: "The model failed." }, round },
    ],
    chunks: [
      {
        type: "reasoning-start",
        id: "a1",
        providerMetadata: { taskweaver: { attachmentType: "plan", role: "unknown" } },
      },
      { type: "reasoning-delta", id: "a1", delta: "1. x" },
      { type: "reasoning-end", id: "a1" },
      { type: "error", errorText: "The model failed." },
      { type: "finish", finishReason: "error" },
    ],
  },
  {
    name: "an interrupted round is `abort`, and its running code ends in an error",
    events: [
      whole("p2", "reply_type", "t", "python"),
      whole("p2", "reply_content", "c", "while True: pass"),
      {
        type: "round-error",
        ...ids,
        error: { code: "aborted", message: "The round was interrupted." },
        round,
      },
    ],
    chunks: [
      { type: "tool-input-start", toolCallId: "c", toolName: "python" },
      { type: "tool-input-delta", toolCallId: "c", inputTextDelta: '{"code":"' },
      {
        type: "tool-input-available",
        toolCallId: "c",
        toolName: "python",
        input: { code: "while True: pass" },
      },
      { type: "tool-output-error", toolCallId: "c", errorText: "The code did not finish." },
      { type: "abort", reason: "The round was interrupted." },
    ],
  },
  {
    name: "code waiting for approval is a tool approval request of the python call, and a rejection denies it",
    events: [
      whole("p2", "reply_type", "t", "python"),
      whole("p2", "reply_content", "c", "print(1)"),
      { type: "execution-approval-request", ...ids, postId: "p2", approvalId: "ap1", code: "print(1)", problems: [] },
      { type: "execution-approval-result", ...ids, postId: "p2", approvalId: "ap1", decision: "rejected", reason: "no" },
      whole("p2", "execution_status", "s", "NONE"),
      whole("p2", "execution_result", "r", "The user declined to run this code."),
    ],
    chunks: [
      { type: "tool-input-start", toolCallId: "c", toolName: "python" },
      { type: "tool-input-delta", toolCallId: "c", inputTextDelta: '{"code":"' },
      { type: "tool-input-available", toolCallId: "c", toolName: "python", input: { code: "print(1)" } },
      { type: "tool-approval-request", approvalId: "ap1", toolCallId: "c" },
      { type: "tool-output-denied", toolCallId: "c" },
    ],
  },
  {
    name: "an edited approval makes the edited code the call's input before its output",
    events: [
      whole("p2", "reply_type", "t", "python"),
      whole("p2", "reply_content", "c", "print(1)"),
      { type: "execution-approval-request", ...ids, postId: "p2", approvalId: "ap1", code: "print(1)", problems: [] },
      { type: "execution-approval-result", ...ids, postId: "p2", approvalId: "ap1", decision: "edited", code: "print(2)" },
      whole("p2", "execution_status", "s", "SUCCESS"),
      whole("p2", "execution_result", "r", "2"),
    ],
    chunks: [
      { type: "tool-input-start", toolCallId: "c", toolName: "python" },
      { type: "tool-input-delta", toolCallId: "c", inputTextDelta: '{"code":"' },
      { type: "tool-input-available", toolCallId: "c", toolName: "python", input: { code: "print(1)" } },
      { type: "tool-approval-request", approvalId: "ap1", toolCallId: "c" },
      { type: "tool-input-available", toolCallId: "c", toolName: "python", input: { code: "print(2)" } },
      { type: "tool-output-available", toolCallId: "c", output: "2" },
    ],
  },
  {
    name: "a timed-out approval ends the call in an error that says so",
    events: [
      whole("p2", "reply_type", "t", "python"),
      whole("p2", "reply_content", "c", "print(1)"),
      { type: "execution-approval-request", ...ids, postId: "p2", approvalId: "ap1", code: "print(1)", problems: [] },
      { type: "execution-approval-result", ...ids, postId: "p2", approvalId: "ap1", decision: "timed_out", reason: "no answer came within 1 s" },
    ],
    chunks: [
      { type: "tool-input-start", toolCallId: "c", toolName: "python" },
      { type: "tool-input-delta", toolCallId: "c", inputTextDelta: '{"code":"' },
      { type: "tool-input-available", toolCallId: "c", toolName: "python", input: { code: "print(1)" } },
      { type: "tool-approval-request", approvalId: "ap1", toolCallId: "c" },
      { type: "tool-output-error", toolCallId: "c", errorText: "Not run: no answer came within 1 s." },
    ],
  },
  {
    name: "plugin statuses are not part of the message",
    events: [{ type: "plugin-status", sessionId: "s1", plugins: [] }],
    chunks: [],
  },
];

describe("createUiMessageChunkMapper", () => {
  it.each(cases)("$name", ({ events, chunks }) => {
    expect(mapAll(events)).toEqual(chunks);
  });

  it("ends a stream at an approval as the AI SDK ends a step, and continues it in the same message", () => {
    const mapper = createUiMessageChunkMapper({ fileUrl: (path) => `/files/${path}` });
    mapper.map({ type: "round-start", ...ids, userQuery: "q" });
    mapper.map(postStart("p2", "CodeInterpreter"));
    expect(mapper.suspend()).toEqual([{ type: "finish-step" }, { type: "finish", finishReason: "tool-calls" }]);
    expect(mapper.resume()).toEqual([{ type: "start", messageId: "r1" }]);
  });

  it("gives chunks that the AI SDK's own reader turns into text, reasoning, tool and file parts", async () => {
    const chunks = mapAll([
      { type: "round-start", ...ids, userQuery: "q" },
      postStart("p1", "Planner"),
      piece("p1", "plan", "a1", "1. print"),
      whole("p1", "plan", "a1", "1. print"),
      recipient("p1", "CodeInterpreter"),
      postEnd("p1", "Planner", "CodeInterpreter", "print one"),
      postStart("p2", "CodeInterpreter"),
      piece("p2", "reply_type", "t", "python"),
      piece("p2", "reply_content", "c", "print("),
      piece("p2", "reply_content", "c", "1)"),
      whole("p2", "reply_type", "t", "python"),
      whole("p2", "reply_content", "c", "print(1)"),
      whole("p2", "execution_status", "s", "SUCCESS"),
      whole("p2", "execution_result", "e", "1"),
      whole("p2", "artifact_paths", "f", '["a.png"]'),
      postEnd("p2", "CodeInterpreter", "Planner", "ran"),
      postStart("p3", "Planner"),
      recipient("p3", "User"),
      delta("p3", "It printed 1."),
      postEnd("p3", "Planner", "User", "It printed 1."),
      { type: "round-end", ...ids, round },
    ]);
    const stream = new ReadableStream<TaskWeaverUiMessageChunk>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(chunk);
        controller.close();
      },
    });
    let message: UIMessage | undefined;
    for await (const snapshot of readUIMessageStream({ stream, terminateOnError: true })) message = snapshot;
    expect(message?.id).toBe("r1");
    const parts = message!.parts.filter((part) => part.type !== "step-start");
    expect(parts).toMatchObject([
      { type: "reasoning", text: "1. print", state: "done" },
      {
        type: "tool-python",
        toolCallId: "c",
        state: "output-available",
        input: { code: "print(1)" },
        output: "1",
      },
      { type: "file", url: "/api/v1/sessions/s1/files/a.png", mediaType: "image/png" },
      { type: "text", text: "It printed 1.", state: "done" },
    ]);
  });
});
