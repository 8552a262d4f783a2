import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "e2e",
    // The fake model is its own package (no workspace dependencies); its tests run here.
    include: ["src/**/*.test.ts", "e2e/**/*.test.ts", "fake-openai/src/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
