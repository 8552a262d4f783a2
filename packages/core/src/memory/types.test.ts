import { describe, expect, it } from "vitest";
import { createAttachment, createPost, createRound } from "./factories.js";
import { ATTACHMENT_TYPES, ConversationSchema, RoundSchema } from "./types.js";

describe("memory types", () => {
  it("round-trips a round through JSON unchanged, with TaskWeaver's field names", () => {
    const round = createRound("count rows");
    round.post_list.push(
      createPost({
        send_from: "Planner",
        send_to: "CodeInterpreter",
        message: "count",
        attachment_list: [createAttachment("init_plan", "1. count"), createAttachment("execution_result", "3", { outcome: "ok" })],
      }),
    );
    const text = JSON.stringify(round);
    expect(Object.keys(JSON.parse(text))).toEqual(["id", "user_query", "state", "post_list"]);
    expect(RoundSchema.parse(JSON.parse(text))).toEqual(round);
  });

  it("accepts every attachment type of the reference, including the retired review type", () => {
    expect(ATTACHMENT_TYPES).toContain("web_exploring_link");
    expect(ATTACHMENT_TYPES).toContain("review");
    for (const type of ATTACHMENT_TYPES) expect(() => createAttachment(type, "x")).not.toThrow();
  });

  it("rejects a round with an unknown state or attachment type", () => {
    const round = { id: "r", user_query: "q", state: "done", post_list: [] };
    expect(RoundSchema.safeParse(round).success).toBe(false);
    const post = { id: "p", send_from: "User", send_to: "Planner", message: "", attachment_list: [{ id: "a", type: "nope", content: "" }] };
    expect(RoundSchema.safeParse({ ...round, state: "finished", post_list: [post] }).success).toBe(false);
  });

  it("gives ids a type prefix and makes them unique", () => {
    const ids = new Set(Array.from({ length: 100 }, () => createPost({ send_from: "User", send_to: "Planner", message: "" }).id));
    expect(ids.size).toBe(100);
    expect([...ids][0]).toMatch(/^post-\d{8}-\d{6}-[0-9a-f]{8}$/);
  });

  it("defaults a conversation to enabled", () => {
    expect(ConversationSchema.parse({ rounds: [] }).enabled).toBe(true);
  });
});
