import { LlmResponseError, MockAnswerMissingError } from "@taskweaver/core";
import { describe, expect, it } from "vitest";
import { demoAnswerMissingMessage, roundErrorMessage } from "./round-errors.js";

const missing = new MockAnswerMissingError("No recorded answer (key 0123).", { cachePath: "/c/mock.yaml", requestPreview: "q" });
const demo = { request: "count the rows", command: "taskweaver" };

describe("roundErrorMessage", () => {
  it("explains a missing recorded answer in a demo", () => {
    expect(roundErrorMessage(missing, missing.message, demo)).toBe(demoAnswerMissingMessage(demo));
    expect(demoAnswerMissingMessage(demo)).toMatch(/^The demo replays .* recorded request:\n {2}count the rows\n/);
  });

  it("keeps the error's own message outside a demo and for other errors", () => {
    expect(roundErrorMessage(missing, missing.message, undefined)).toBe(missing.message);
    const down = new LlmResponseError("The model is down.");
    expect(roundErrorMessage(down, down.message, demo)).toBe("The model is down.");
    expect(roundErrorMessage(undefined, "The round failed.", demo)).toBe("The round failed.");
  });

  it("still says how to use a real model when the recorded request is unknown", () => {
    const text = demoAnswerMissingMessage({ request: undefined, command: "pnpm --silent taskweaver" });
    expect(text).toContain("knows only its recorded request.\n");
    expect(text).toContain("`pnpm --silent taskweaver -p DIR`");
  });
});
