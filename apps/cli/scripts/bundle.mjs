// Builds the `taskweaver` command's code (dist/cli.js and the chunks it loads on demand) as plain
// JavaScript that runs on Node without tsx; how and why: tooling/bundle/bundle-app.mjs. The
// output stays at the depth of src/, because the CLI finds ../package.json and the sample project
// relative to its own code.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleApp } from "@taskweaver/bundle";

const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..");
try {
  const { durationMs } = await bundleApp({ packageDir, entryPoints: { cli: "src/cli.tsx" }, outdir: "dist" });
  console.error(`bundle: dist/cli.js in ${durationMs} ms`);
} catch (error) {
  console.error(`bundle: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
