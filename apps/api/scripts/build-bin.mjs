// Builds the `taskweaver-api` command: one ESM file that runs on plain Node.
//
// Inside the workspace `@taskweaver/core` and `@taskweaver/executor` export their TypeScript
// sources (so tests and tsx need no build), which plain Node cannot load. esbuild therefore
// bundles the API with the workspace packages' code; every other package stays an import,
// resolved from this package's own dependencies at run time (native addons such as zeromq and
// better-sqlite3, and WebAssembly grammars found next to their package, cannot be bundled).
// The executor's Python support code is read from `../python/` next to the bundle's folder,
// so it is copied there.
import { chmod, cp, mkdir, readFile, realpath } from "node:fs/promises";
import { builtinModules } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const outfile = join(root, "dist/bin/taskweaver-api.js");
const manifest = JSON.parse(await readFile(join(root, "package.json"), "utf8"));
const dependencies = new Set(Object.keys(manifest.dependencies ?? {}));
const builtins = new Set(builtinModules);

/** `@scope/name/sub` and `name/sub` to their package names. */
function packageName(specifier) {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

const missing = new Set();
const workspaceInlined = {
  name: "workspace-inlined",
  setup(builder) {
    builder.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith("node:") || builtins.has(args.path)) return { external: true };
      const name = packageName(args.path);
      if (name.startsWith("@taskweaver/")) return undefined;
      if (!dependencies.has(name)) missing.add(`${name} (imported by ${args.importer})`);
      return { external: true };
    });
  },
};

await build({
  entryPoints: [join(root, "src/serve.ts")],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: "linked",
  banner: { js: "#!/usr/bin/env node" },
  plugins: [workspaceInlined],
  logLevel: "warning",
});
if (missing.size > 0) {
  console.error(
    `The bundle imports packages that are not dependencies of ${manifest.name}; add them to its package.json:\n  ${[...missing].join("\n  ")}`,
  );
  process.exit(1);
}
await chmod(outfile, 0o755);
// The package's own folder: its `exports` do not list package.json, so it is found through the link.
const executorRoot = await realpath(join(root, "node_modules/@taskweaver/executor"));
await mkdir(join(root, "dist/python"), { recursive: true });
await cp(join(executorRoot, "python"), join(root, "dist/python"), { recursive: true });
console.log(`built ${outfile}`);
