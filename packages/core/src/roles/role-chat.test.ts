import { describe, expect, it } from "vitest";
import type { RoundCompressor } from "../compression/round-compressor.js";
import { createRound } from "../memory/factories.js";
import type { Round } from "../memory/types.js";
import { buildRoleChat, createSystemPromptCache } from "./role-chat.js";

const format = (rounds: readonly Round[]) => rounds.map((round) => ({ role: "user" as const, content: round.user_query }));

describe("buildRoleChat", () => {
  it("puts the system prompt first, then the examples, then the rounds", async () => {
    const messages = await buildRoleChat({
      systemPrompt: "system",
      rounds: [createRound("now")],
      format,
      examples: async () => [[createRound("example")]],
      signal: new AbortController().signal,
    });
    expect(messages).toEqual([
      { role: "system", content: "system" },
      { role: "user", content: "example" },
      { role: "user", content: "now" },
    ]);
  });

  it("appends the compressor's summary to the system prompt and shows only the recent rounds", async () => {
    const recent = createRound("recent");
    const compressor: RoundCompressor = { compress: async () => ({ summary: "they talked", recentRounds: [recent] }) };
    const messages = await buildRoleChat({
      systemPrompt: "system",
      rounds: [createRound("old"), recent],
      format,
      compressor,
      signal: new AbortController().signal,
    });
    expect(messages).toEqual([
      { role: "system", content: "system\n\nSummary of the earlier conversation:\nthey talked" },
      { role: "user", content: "recent" },
    ]);
  });
});

describe("createSystemPromptCache", () => {
  it("builds a prompt once per key", () => {
    const cache = createSystemPromptCache();
    let builds = 0;
    const build = () => `prompt ${++builds}`;
    expect(cache("a", build)).toBe("prompt 1");
    expect(cache("a", build)).toBe("prompt 1");
    expect(cache("b", build)).toBe("prompt 2");
  });
});
