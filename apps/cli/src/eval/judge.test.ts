import { describe, expect, it } from "vitest";
import { judgeRequest, parseVerdict } from "./judge.js";

describe("parseVerdict", () => {
  it("reads a yes and a no with the reason", () => {
    expect(parseVerdict('{"reason": "it says 42", "is_hit": "yes"}')).toEqual({ isHit: true, reason: "it says 42" });
    expect(parseVerdict('{"reason": "no number", "is_hit": "No"}')).toEqual({ isHit: false, reason: "no number" });
  });

  it("tolerates a code fence, prose around the object, a think block and booleans", () => {
    expect(parseVerdict('<think>hmm</think>Here:\n```json\n{"reason": "ok", "is_hit": true}\n```')).toEqual({
      isHit: true,
      reason: "ok",
    });
  });

  it("counts prose that is no verdict as a failed judgement, saying what came back", () => {
    const verdict = parseVerdict("Yes, I think the agent did well.");
    expect(verdict.isHit).toBe(false);
    expect(verdict.reason).toMatch(/not a JSON verdict.*"Yes, I think the agent did well\."/);
  });

  it("counts an is_hit that is neither yes nor no as a failed judgement", () => {
    const verdict = parseVerdict('{"reason": "partly", "is_hit": "maybe"}');
    expect(verdict).toEqual({ isHit: false, reason: expect.stringMatching(/no is_hit of "yes" or "no" \(found "maybe"\)/) });
    expect(parseVerdict('{"reason": "forgot"}').reason).toMatch(/found nothing/);
    expect(parseVerdict("").isHit).toBe(false);
  });
});

describe("judgeRequest", () => {
  it("shows the task, the conversation without the instruction, and the statement", () => {
    const text = judgeRequest(
      "count rows",
      [
        { role: "system", content: "secret instruction" },
        { role: "agent", content: "kick-off" },
        { role: "user", content: "count the rows" },
        { role: "agent", content: "120 rows" },
      ],
      "The agent says 120",
    );
    expect(text).not.toContain("secret instruction");
    expect(text).toMatch(/count rows[\s\S]*\[user\]\ncount the rows[\s\S]*\[agent\]\n120 rows[\s\S]*The agent says 120$/);
  });
});
