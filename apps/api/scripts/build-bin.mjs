// Builds the `taskweaver-api` command (dist/bin/taskweaver-api.js) as plain JavaScript that runs
// on Node without tsx; how and why: tooling/bundle/bundle-app.mjs.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleApp } from "@taskweaver/bundle";

const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..");
try {
  const { durationMs } = await bundleApp({
    packageDir,
    entryPoints: { "taskweaver-api": "src/serve.ts" },
    outdir: "dist/bin",
    executable: true,
  });
  console.log(`built dist/bin/taskweaver-api.js in ${durationMs} ms`);
} catch (error) {
  console.error(`build-bin: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
