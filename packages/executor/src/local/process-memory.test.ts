import { describe, expect, test } from "vitest";
import { readProcessMemory } from "./process-memory.js";

describe("process memory", () => {
  test.skipIf(process.platform !== "linux")("reads RSS, PSS and USS of a live process from /proc", async () => {
    const memory = await readProcessMemory(process.pid);
    expect(memory).toBeDefined();
    expect(memory!.ussBytes).toBeGreaterThan(0);
    expect(memory!.pssBytes).toBeGreaterThanOrEqual(memory!.ussBytes);
    expect(memory!.rssBytes).toBeGreaterThanOrEqual(memory!.pssBytes);
  });

  test("is undefined for a process that does not exist", async () => {
    expect(await readProcessMemory(2 ** 22 + 1)).toBeUndefined();
  });
});
