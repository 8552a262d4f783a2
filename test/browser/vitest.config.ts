import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "browser",
    include: ["**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // One Chromium and one kernel at a time are enough for a small machine.
    fileParallelism: false,
  },
});
