#!/usr/bin/env node
// The published entry point: runs the compiled CLI. Inside the repository, use
// `pnpm taskweaver` (which runs the TypeScript source with tsx) or build first.
try {
  await import("../dist/cli.js");
} catch (error) {
  if (error && error.code === "ERR_MODULE_NOT_FOUND" && String(error.message).includes("dist/cli.js")) {
    process.stderr.write(
      "taskweaver: the CLI is not built. Run `pnpm build`, or `pnpm taskweaver` from the repository.\n",
    );
    process.exit(1);
  }
  throw error;
}
