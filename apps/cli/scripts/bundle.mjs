// Builds the `taskweaver` bin as plain JavaScript for Node: dist/cli.js (and the chunks it
// loads on demand). Inside the workspace the @taskweaver/* packages export their TypeScript
// sources, which plain Node cannot load, so they are bundled in; every npm package stays an
// import that Node resolves at run time, and must therefore be a dependency of this package
// (checked below). The executor's Python support file is read next to the code that needs it,
// so it is copied to ../python, where the bundled code looks for it.
import { cpSync, readFileSync, rmSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const { dependencies = {} } = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));

/** `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`. */
function packageName(specifier) {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

const externals = new Set();
/** @type {import("esbuild").Plugin} */
const npmPackagesExternal = {
  name: "npm-packages-external",
  setup(context) {
    context.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith("node:") || builtinModules.includes(args.path)) return { external: true };
      if (args.path.startsWith("@taskweaver/")) return undefined;
      externals.add(packageName(args.path));
      return { external: true };
    });
  },
};

const outdir = join(packageDir, "dist");
rmSync(join(outdir, "cli.js"), { force: true });
const startedAt = Date.now();
await build({
  entryPoints: { cli: join(packageDir, "src/cli.tsx") },
  outdir,
  bundle: true,
  splitting: true,
  // Chunks sit next to cli.js: paths that code finds relative to itself (the executor's
  // ../python, the CLI's ../package.json and ../../../project) keep the depth of src/.
  chunkNames: "[name]-[hash]",
  format: "esm",
  platform: "node",
  target: "node20",
  jsx: "automatic",
  sourcemap: "linked",
  logLevel: "warning",
  plugins: [npmPackagesExternal],
});

const undeclared = [...externals].filter((name) => !(name in dependencies)).sort();
if (undeclared.length > 0) {
  console.error(
    `bundle: ${undeclared.join(", ")} ${undeclared.length === 1 ? "is" : "are"} imported by the bundled code ` +
      `but not a dependency of @taskweaver/cli; add ${undeclared.length === 1 ? "it" : "them"} to apps/cli/package.json.`,
  );
  process.exit(1);
}

const executorDir = dirname(fileURLToPath(import.meta.resolve("@taskweaver/executor")));
cpSync(join(executorDir, "..", "python"), join(packageDir, "python"), { recursive: true });
console.error(`bundle: dist/cli.js in ${Date.now() - startedAt} ms`);
