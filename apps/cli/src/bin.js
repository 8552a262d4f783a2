#!/usr/bin/env node
// The `taskweaver` command: runs the built CLI (dist/cli.js, plain JavaScript with the
// workspace packages bundled in; see scripts/bundle.mjs). `scripts/setup.sh` builds it and puts
// this file on PATH. Inside the repository, `pnpm taskweaver` runs the TypeScript source instead.
try {
  await import("../dist/cli.js");
} catch (error) {
  if (error && error.code === "ERR_MODULE_NOT_FOUND" && String(error.message).includes("dist/cli.js")) {
    process.stderr.write(
      "taskweaver: the CLI is not built. Run `bash scripts/setup.sh` (or `pnpm --filter @taskweaver/cli bundle`), " +
        "or `pnpm --silent taskweaver` from the repository.\n",
    );
    process.exit(1);
  }
  throw error;
}
