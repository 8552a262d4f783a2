import { describe, expect, it } from "vitest";
import { describeModelRetry } from "./model-answer.js";

describe("describeModelRetry", () => {
  it("names a rate limit, another HTTP failure, and a failure without a status", () => {
    expect(describeModelRetry({ retry: 1, delayMs: 2000, status: 429, reason: "rate limited" })).toBe(
      "the model is rate limited (HTTP 429); retrying in 2 s (retry 1)",
    );
    expect(describeModelRetry({ retry: 2, delayMs: 1500, status: 502, reason: "bad gateway" })).toBe(
      "the model call failed (HTTP 502); retrying in 1.5 s (retry 2)",
    );
    expect(describeModelRetry({ retry: 3, delayMs: 250, status: undefined, reason: "connection refused" })).toBe(
      "the model call failed (connection refused); retrying in 250 ms (retry 3)",
    );
  });
});
