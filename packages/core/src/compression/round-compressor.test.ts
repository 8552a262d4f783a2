import { describe, expect, it } from "vitest";
import { LlmResponseError, TaskWeaverError } from "../errors.js";
import type { Round } from "../memory/types.js";
import { createScriptedModel } from "../testing/scripted-model.js";
import { formatRoundsAsText } from "./format-rounds.js";
import { createRoundCompressor } from "./round-compressor.js";

function rounds(count: number, from = 1): Round[] {
  return Array.from({ length: count }, (_, index) => {
    const number = from + index;
    return {
      id: `round-${number}`,
      user_query: `question ${number}`,
      state: "finished" as const,
      post_list: [
        { id: `p${number}`, send_from: "User", send_to: "Planner", message: `question ${number}`, attachment_list: [] },
        {
          id: `q${number}`,
          send_from: "Planner",
          send_to: "User",
          message: `answer ${number}`,
          attachment_list: [{ id: `a${number}`, type: "plan" as const, content: `plan ${number}` }],
        },
      ],
    };
  });
}

const ids = (list: readonly Round[]) => list.map((round) => round.id);
const summary = (text: string) => JSON.stringify({ summary: text });

describe("createRoundCompressor", () => {
  it("keeps every round while there are fewer than rounds_to_compress + rounds_to_retain", async () => {
    const model = createScriptedModel([]);
    const compressor = createRoundCompressor({ model, roundsToCompress: 2, roundsToRetain: 3, format: formatRoundsAsText });
    const result = await compressor.compress(rounds(4));
    expect(result).toEqual({ summary: undefined, recentRounds: rounds(4) });
    expect(model.requests).toHaveLength(0);
  });

  it("summarises the older rounds once enough have gathered, keeping the most recent ones whole", async () => {
    const model = createScriptedModel([summary("Rounds 1-2: the user asked two questions.")]);
    const compressor = createRoundCompressor({ model, roundsToCompress: 2, roundsToRetain: 3, format: formatRoundsAsText });
    const result = await compressor.compress(rounds(5));
    expect(result.summary).toBe("Rounds 1-2: the user asked two questions.");
    expect(ids(result.recentRounds)).toEqual(["round-3", "round-4", "round-5"]);
    const prompt = JSON.stringify(model.requests[0]!.messages);
    expect(prompt).toContain("Summary so far:\\n(empty)");
    expect(prompt).toContain("question 1");
    expect(prompt).toContain("[plan] plan 2");
    expect(prompt).not.toContain("question 3");
    expect(model.requests[0]!.tag).toBe("compression");
  });

  it("reuses the summary until rounds_to_compress more rounds arrive, then folds them into it", async () => {
    const model = createScriptedModel([summary("S1"), summary("S2")]);
    const compressor = createRoundCompressor({ model, roundsToCompress: 2, roundsToRetain: 3, format: formatRoundsAsText });
    await compressor.compress(rounds(5));
    const six = await compressor.compress(rounds(6));
    expect(six.summary).toBe("S1");
    expect(ids(six.recentRounds)).toEqual(["round-3", "round-4", "round-5", "round-6"]);
    expect(model.requests).toHaveLength(1);
    const seven = await compressor.compress(rounds(7));
    expect(seven.summary).toBe("S2");
    expect(ids(seven.recentRounds)).toEqual(["round-5", "round-6", "round-7"]);
    const prompt = JSON.stringify(model.requests[1]!.messages);
    expect(prompt).toContain("Summary so far:\\nS1");
    expect(prompt).toContain("question 3");
    expect(prompt).toContain("question 4");
    expect(prompt).not.toContain("question 2");
    expect(prompt).not.toContain("question 5");
  });

  it("accepts a plain-text summary", async () => {
    const model = createScriptedModel(["The user asked about sales."]);
    const compressor = createRoundCompressor({ model, roundsToCompress: 1, roundsToRetain: 1, format: formatRoundsAsText });
    const result = await compressor.compress(rounds(2));
    expect(result.summary).toBe("The user asked about sales.");
    expect(ids(result.recentRounds)).toEqual(["round-2"]);
  });

  it("keeps the full history without throwing when the model fails, and tries again only when more rounds arrive", async () => {
    const errors: unknown[] = [];
    const model = createScriptedModel([
      () => {
        throw new Error("HTTP 500");
      },
      summary("S after the failure"),
    ]);
    const compressor = createRoundCompressor({
      model,
      roundsToCompress: 2,
      roundsToRetain: 3,
      format: formatRoundsAsText,
      onError: (error) => errors.push(error),
    });
    expect(await compressor.compress(rounds(5))).toEqual({ summary: undefined, recentRounds: rounds(5) });
    expect(errors).toHaveLength(1);
    expect(TaskWeaverError.isInstance(errors[0])).toBe(true);
    // Same history again (the next reply of the same round): no second call.
    expect(await compressor.compress(rounds(5))).toEqual({ summary: undefined, recentRounds: rounds(5) });
    expect(model.requests).toHaveLength(1);
    const later = await compressor.compress(rounds(6));
    expect(later.summary).toBe("S after the failure");
    expect(ids(later.recentRounds)).toEqual(["round-4", "round-5", "round-6"]);
  });

  it("keeps the full history when the summary is empty or is JSON without the summary field", async () => {
    for (const bad of [summary("  "), JSON.stringify({ text: "wrong field" }), "", "{ broken"]) {
      const errors: unknown[] = [];
      const compressor = createRoundCompressor({
        model: createScriptedModel([bad]),
        roundsToCompress: 2,
        roundsToRetain: 3,
        format: formatRoundsAsText,
        onError: (error) => errors.push(error),
      });
      const result = await compressor.compress(rounds(5));
      expect(result.summary, bad).toBeUndefined();
      expect(result.recentRounds, bad).toHaveLength(5);
      expect(LlmResponseError.isInstance(errors[0]), bad).toBe(true);
    }
  });

  it("uses the whole history, not a stale summary, when a later summary fails", async () => {
    const model = createScriptedModel([summary("S1"), "{ not json"]);
    const compressor = createRoundCompressor({ model, roundsToCompress: 1, roundsToRetain: 1, format: formatRoundsAsText });
    expect((await compressor.compress(rounds(2))).summary).toBe("S1");
    // The second summary fails: the whole history is used, not a stale summary.
    const failed = await compressor.compress(rounds(3));
    expect(failed).toEqual({ summary: undefined, recentRounds: rounds(3) });
  });

  it("starts over when the rounds it summarised are no longer in the history", async () => {
    const model = createScriptedModel([summary("old conversation"), summary("new conversation")]);
    const compressor = createRoundCompressor({ model, roundsToCompress: 1, roundsToRetain: 1, format: formatRoundsAsText });
    await compressor.compress(rounds(2));
    const other = await compressor.compress(rounds(2, 10));
    expect(other.summary).toBe("new conversation");
    expect(JSON.stringify(model.requests[1]!.messages)).toContain("Summary so far:\\n(empty)");
  });

  it("throws AbortedError when the signal aborts during the summary", async () => {
    const controller = new AbortController();
    const model = createScriptedModel([
      () => {
        controller.abort();
        return summary("never used");
      },
    ]);
    const compressor = createRoundCompressor({ model, roundsToCompress: 1, roundsToRetain: 1, format: formatRoundsAsText });
    await expect(compressor.compress(rounds(2), { signal: controller.signal })).rejects.toMatchObject({ code: "aborted" });
  });
});
