// Builds an app's command as plain JavaScript for Node. Inside the workspace the @taskweaver/*
// packages export their TypeScript sources (so tests and tsx need no build), which plain Node
// cannot load: they are bundled in. Every npm package stays an import that Node resolves at run
// time from the app's own node_modules (native addons such as zeromq and better-sqlite3, and
// WebAssembly grammars found next to their package, cannot be bundled), so each must be a
// dependency of the app: checked here. The executor reads its Python files from `../python`
// next to the code (see packages/executor/src/python-files.ts), so they are copied beside the
// output folder, and chunks stay in that one folder.
import { existsSync } from "node:fs";
import { chmod, cp, readFile, realpath, rm } from "node:fs/promises";
import { builtinModules } from "node:module";
import { dirname, join } from "node:path";
import { build } from "esbuild";

/** `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`. */
function packageName(specifier) {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

/**
 * An app that depends on the web playground (@taskweaver/web) ships its build as `web/` beside
 * the Python files, where the API's web-assets module looks. Built by the playground's own build
 * (scripts/setup.sh, or turbo before the app); without it the app serves a page saying so.
 */
async function copyWebBuild(packageDir, manifest, destination) {
  const declared = { ...manifest.dependencies, ...manifest.devDependencies };
  if (!("@taskweaver/web" in declared)) return;
  const webRoot = await realpath(join(packageDir, "node_modules/@taskweaver/web"));
  const build = join(webRoot, "dist");
  if (!existsSync(join(build, "index.html"))) {
    console.warn(`bundle: ${build} is not built (pnpm --filter @taskweaver/web build); the bin will serve no playground`);
    return;
  }
  await rm(join(destination, "web"), { recursive: true, force: true });
  await cp(build, join(destination, "web"), { recursive: true });
}

/**
 * @param {object} options
 * @param {string} options.packageDir the app's folder (holding package.json)
 * @param {Record<string, string>} options.entryPoints output name -> source file, relative to packageDir
 * @param {string} options.outdir relative to packageDir; the Python files go to `<outdir>/../python`
 * @param {boolean} [options.executable] start each entry with a `#!/usr/bin/env node` line and make it executable
 */
export async function bundleApp({ packageDir, entryPoints, outdir, executable = false }) {
  const manifest = JSON.parse(await readFile(join(packageDir, "package.json"), "utf8"));
  const dependencies = new Set(Object.keys(manifest.dependencies ?? {}));
  const builtins = new Set(builtinModules);
  const missing = new Set();
  /** @type {import("esbuild").Plugin} */
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
  const output = join(packageDir, outdir);
  const startedAt = Date.now();
  await build({
    entryPoints: Object.fromEntries(
      Object.entries(entryPoints).map(([name, source]) => [name, join(packageDir, source)]),
    ),
    outdir: output,
    bundle: true,
    // Chunks load on demand and sit next to the entries, so paths found relative to the code
    // keep one depth.
    splitting: true,
    chunkNames: "[name]-[hash]",
    format: "esm",
    platform: "node",
    target: "node20",
    jsx: "automatic",
    sourcemap: "linked",
    logLevel: "warning",
    ...(executable ? { banner: { js: "#!/usr/bin/env node" } } : {}),
    plugins: [workspaceInlined],
  });
  if (missing.size > 0) {
    throw new Error(
      `the bundle imports packages that are not dependencies of ${manifest.name}; add them to ` +
        `${join(packageDir, "package.json")}:\n  ${[...missing].join("\n  ")}`,
    );
  }
  if (executable) for (const name of Object.keys(entryPoints)) await chmod(join(output, `${name}.js`), 0o755);
  // The package's own folder: its `exports` do not list package.json, so it is found through the link.
  const executorRoot = await realpath(join(packageDir, "node_modules/@taskweaver/executor"));
  await cp(join(executorRoot, "python"), join(dirname(output), "python"), { recursive: true });
  await copyWebBuild(packageDir, manifest, dirname(output));
  return { outdir: output, durationMs: Date.now() - startedAt };
}
