import { describe, expect, it } from "vitest";
import type { StoredRound } from "./api-client.js";
import { messagesFromRounds } from "./history.js";

const round = (overrides: Partial<StoredRound>): StoredRound => ({
  id: "round-1",
  user_query: "generate 10 random numbers",
  state: "finished",
  post_list: [],
  error: null,
  created_at: "2026-01-01T00:00:00.000Z",
  finished_at: "2026-01-01T00:00:05.000Z",
  ...overrides,
});

describe("messagesFromRounds", () => {
  it("turns a stored planner round into the parts the live stream builds: reasoning, the python call, files, the answer", () => {
    const messages = messagesFromRounds("s 1", [
      round({
        post_list: [
          {
            id: "p1",
            send_from: "Planner",
            send_to: "CodeInterpreter",
            message: "Please run the code.",
            attachment_list: [{ id: "a1", type: "plan", content: "1. run code\n2. report" }],
          },
          {
            id: "p2",
            send_from: "CodeInterpreter",
            send_to: "Planner",
            message: "ran",
            attachment_list: [
              { id: "a2", type: "thought", content: "I will run Python." },
              { id: "a3", type: "reply_type", content: "python" },
              { id: "a4", type: "reply_content", content: "print(1)" },
              { id: "a5", type: "execution_status", content: "SUCCESS" },
              { id: "a6", type: "execution_result", content: "1" },
              {
                id: "a7",
                type: "artifact_paths",
                content: '["out/chart 1.png"]',
                extra: { artifacts: [{ path: "out/chart 1.png", mimeType: "image/png" }] },
              },
            ],
          },
          { id: "p3", send_from: "Planner", send_to: "User", message: "Here they are.", attachment_list: [] },
        ],
      }),
    ]);
    expect(messages.map((message) => [message.id, message.role])).toEqual([
      ["round-1-user", "user"],
      ["round-1", "assistant"],
    ]);
    const parts = messages[1]!.parts.filter((part) => part.type !== "step-start");
    expect(parts).toEqual([
      expect.objectContaining({ type: "reasoning", text: "1. run code\n2. report" }),
      expect.objectContaining({ type: "reasoning", text: "I will run Python." }),
      {
        type: "tool-python",
        toolCallId: "a4",
        state: "output-available",
        input: { code: "print(1)" },
        output: "1",
      },
      { type: "file", url: "/api/v1/sessions/s%201/files/out/chart%201.png", mediaType: "image/png" },
      { type: "text", text: "Here they are.", state: "done" },
    ]);
  });

  it("gives a DataFrame's rich HTML kept with the result as an HTML file part, as the live stream does", () => {
    const html = "<table><td>Zürich</td></table>";
    const messages = messagesFromRounds("s1", [
      round({
        post_list: [
          {
            id: "p2",
            send_from: "CodeInterpreter",
            send_to: "Planner",
            message: "ran",
            attachment_list: [
              { id: "a3", type: "reply_type", content: "python" },
              { id: "a4", type: "reply_content", content: "df" },
              { id: "a5", type: "execution_status", content: "SUCCESS" },
              { id: "a6", type: "execution_result", content: "     city\n0  Zürich", extra: { html: [html] } },
            ],
          },
        ],
      }),
    ]);
    const file = messages[1]!.parts.find((part) => part.type === "file");
    expect(file).toEqual({
      type: "file",
      url: `data:text/html;base64,${Buffer.from(html, "utf8").toString("base64")}`,
      mediaType: "text/html",
    });
  });

  it("shows a failed run as a tool error and a failed round's error, and leaves a running round to the resumed stream", () => {
    const messages = messagesFromRounds("s", [
      round({
        state: "failed",
        error: { code: "llm_error", message: "the model refused" },
        post_list: [
          {
            id: "p",
            send_from: "CodeInterpreter",
            send_to: "Planner",
            message: "",
            attachment_list: [
              { id: "t", type: "reply_type", content: "python" },
              { id: "c", type: "reply_content", content: "1/0" },
              { id: "s", type: "execution_status", content: "FAILURE" },
              { id: "r", type: "execution_result", content: "ZeroDivisionError: division by zero" },
            ],
          },
        ],
      }),
      round({ id: "round-2", user_query: "still running", state: "created", finished_at: null }),
    ]);
    expect(messages.map((message) => message.id)).toEqual(["round-1-user", "round-1", "round-2-user"]);
    expect(messages[1]!.parts).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          type: "tool-python",
          state: "output-error",
          errorText: "ZeroDivisionError: division by zero",
        }),
        { type: "data-round-error", data: { message: "the model refused" } },
      ]),
    );
  });
});
