import { describe, expect, test } from "vitest";
import { readProcessMemory, readProcessMemorySync, withMemoryDetails } from "./process-memory.js";

describe("process memory", () => {
  test.skipIf(process.platform !== "linux")("reads RSS, PSS and USS of a live process from /proc", async () => {
    const memory = await readProcessMemory(process.pid);
    expect(memory).toBeDefined();
    expect(memory!.ussBytes).toBeGreaterThan(0);
    expect(memory!.pssBytes).toBeGreaterThanOrEqual(memory!.ussBytes);
    expect(memory!.rssBytes).toBeGreaterThanOrEqual(memory!.pssBytes);
    expect(readProcessMemorySync(process.pid)?.rssBytes).toBeGreaterThan(0);
  });

  test("is undefined for a process that does not exist", async () => {
    expect(await readProcessMemory(2 ** 22 + 1)).toBeUndefined();
  });

  test.skipIf(process.platform !== "linux")("adds live memory fields to kernel details, kept by a spread", () => {
    const details = withMemoryDetails({ pid: String(process.pid) }, process.pid);
    const copy = { ...details };
    expect(copy.pid).toBe(String(process.pid));
    expect(Number(copy.pssBytes)).toBeGreaterThan(0);
  });
});
