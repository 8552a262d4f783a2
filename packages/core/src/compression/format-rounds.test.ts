import { describe, expect, it } from "vitest";
import type { Round } from "../memory/types.js";
import { formatRoundsAsText } from "./format-rounds.js";

const round: Round = {
  id: "r1",
  user_query: "sum the revenue",
  state: "finished",
  post_list: [
    { id: "p1", send_from: "User", send_to: "Planner", message: "sum the revenue", attachment_list: [] },
    {
      id: "p2",
      send_from: "CodeInterpreter",
      send_to: "Planner",
      message: "Done.",
      attachment_list: [
        { id: "a1", type: "reply_type", content: "python" },
        { id: "a2", type: "reply_content", content: "df = load()\ndf.revenue.sum()" },
        { id: "a3", type: "execution_result", content: "x".repeat(5000) },
        { id: "a4", type: "execution_status", content: "" },
      ],
    },
  ],
};

describe("formatRoundsAsText", () => {
  it("lists each post with its useful attachments, indenting multi-line content and cutting long parts", () => {
    const text = formatRoundsAsText([round, { ...round, id: "r2", state: "failed" }], { maxPartChars: 100 });
    expect(text.startsWith("## Round 1: sum the revenue\nUser -> Planner: sum the revenue\nCodeInterpreter -> Planner: Done.\n")).toBe(true);
    expect(text).toContain("  [reply_content] df = load()\n    df.revenue.sum()");
    expect(text).not.toContain("[reply_type]");
    expect(text).not.toContain("[execution_status]");
    expect(text).toContain("characters cut");
    expect(text).toContain("## Round 2: sum the revenue");
    expect(text.trimEnd().endsWith("(this round failed)")).toBe(true);
    expect(text.length).toBeLessThan(1000);
  });
});
