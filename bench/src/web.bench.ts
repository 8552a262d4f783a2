// The web playground's first page load: builds apps/web (as scripts/setup.sh does) and sums the
// gzipped size of the JavaScript and CSS that index.html loads. Target: at most 250 KB of
// JavaScript gzipped.
import { execFile } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { REPO_ROOT } from "@taskweaver/testing";

const WEB_DIST = join(REPO_ROOT, "apps/web/dist");
const TARGET_JS_GZIP_BYTES = 250 * 1024;

/** The files the page itself references (scripts, module preloads, style sheets). */
function firstLoad(html: string): string[] {
  const references = [...html.matchAll(/<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)"/g)].map(
    (match) => match[1]!,
  );
  return references.filter((path) => path.endsWith(".js") || path.endsWith(".css"));
}

const kilobytes = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

export async function run(): Promise<void> {
  const started = performance.now();
  await promisify(execFile)("pnpm", ["--filter", "@taskweaver/web", "build"], {
    cwd: REPO_ROOT,
    timeout: 300_000,
  });
  const buildMs = performance.now() - started;
  const html = readFileSync(join(WEB_DIST, "index.html"), "utf8");
  let javascript = 0;
  let css = 0;
  console.log("web playground, first page load (gzip level 9):");
  for (const path of firstLoad(html)) {
    const file = join(WEB_DIST, path.replace(/^\//, ""));
    const gzipped = gzipSync(readFileSync(file), { level: 9 }).length;
    if (path.endsWith(".js")) javascript += gzipped;
    else css += gzipped;
    console.log(
      `  ${path.padEnd(36)} ${kilobytes(statSync(file).size).padStart(10)} raw  ${kilobytes(gzipped).padStart(9)} gzip`,
    );
  }
  const verdict = javascript <= TARGET_JS_GZIP_BYTES ? "within" : "OVER";
  console.log(
    `  JavaScript ${kilobytes(javascript)} gzip (${verdict} the 250 KB target), CSS ${kilobytes(css)} gzip`,
  );
  console.log(`  build (vite) ${(buildMs / 1000).toFixed(1)} s`);
  if (javascript > TARGET_JS_GZIP_BYTES)
    throw new Error(`the first page load has ${kilobytes(javascript)} of JavaScript gzipped, over 250 KB`);
}
