import { describe, expect, it } from "vitest";
import { AbortedError } from "../errors.js";
import { DEFAULT_RETRY_POLICY, retryAfterFromHeaders, retryDelay, sleep } from "./retry.js";

describe("retryAfterFromHeaders", () => {
  it("prefers retry-after-ms, then reads retry-after as seconds or an HTTP date", () => {
    expect(retryAfterFromHeaders(new Headers({ "retry-after-ms": "250", "retry-after": "9" }))).toBe(250);
    expect(retryAfterFromHeaders(new Headers({ "retry-after": "2" }))).toBe(2000);
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(retryAfterFromHeaders(new Headers({ "retry-after": "Thu, 01 Jan 2026 00:00:03 GMT" }), now)).toBe(
      3000,
    );
  });

  it("ignores missing or unreadable values", () => {
    expect(retryAfterFromHeaders(undefined)).toBeUndefined();
    expect(retryAfterFromHeaders(new Headers())).toBeUndefined();
    expect(
      retryAfterFromHeaders(new Headers({ "retry-after-ms": "soon", "retry-after": "later" })),
    ).toBeUndefined();
  });
});

describe("retryDelay", () => {
  const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 1000 };

  it("doubles per retry, between half and all of the exponential delay", () => {
    expect(retryDelay({ ...policy, random: () => 0 }, 0, undefined)).toBe(50);
    expect(retryDelay({ ...policy, random: () => 0.999 }, 0, undefined)).toBe(100);
    expect(retryDelay({ ...policy, random: () => 0 }, 2, undefined)).toBe(200);
  });

  it("caps both its own delay and the server's request at maxDelayMs", () => {
    expect(retryDelay({ ...policy, random: () => 0.999 }, 10, undefined)).toBe(1000);
    expect(retryDelay(policy, 0, 60_000)).toBe(1000);
    expect(retryDelay(policy, 3, 5)).toBe(5);
  });
});

describe("sleep", () => {
  it("rejects with AbortedError as soon as the signal aborts", async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 10);
    await expect(sleep(10_000, controller.signal)).rejects.toBeInstanceOf(AbortedError);
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(sleep(10, AbortSignal.abort())).rejects.toBeInstanceOf(AbortedError);
    await expect(sleep(1, undefined)).resolves.toBeUndefined();
  });
});
