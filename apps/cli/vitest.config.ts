import { defineProject } from "vitest/config";

export default defineProject({
  test: { name: "cli", include: ["src/**/*.test.ts", "src/**/*.test.tsx"], testTimeout: 30_000, hookTimeout: 60_000 },
});
