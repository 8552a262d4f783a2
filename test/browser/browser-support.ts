// Real headless Chromium for the playground's tests: Debian's `chromium` (scripts/test.sh
// installs it) driven by playwright-core, which never downloads a browser of its own.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium, type Browser } from "playwright-core";
import { REPO_ROOT } from "../src/index.js";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium"];

/** The Chromium binary: `TASKWEAVER_CHROMIUM`, else Debian's. */
export function findChromium(): string | undefined {
  const configured = process.env["TASKWEAVER_CHROMIUM"];
  if (configured) return existsSync(configured) ? configured : undefined;
  return CANDIDATES.find((path) => existsSync(path));
}

export const chromiumPath = findChromium();

/** Why the browser tests cannot run here, if they cannot. */
export const chromiumUnavailableReason =
  chromiumPath === undefined
    ? "no Chromium found (apt-get install chromium, or set TASKWEAVER_CHROMIUM to its path)"
    : undefined;

/** Under CI a missing Chromium fails the tests; elsewhere they are skipped with the reason. */
export const runBrowserTests = chromiumUnavailableReason === undefined || process.env.CI === "true";

export async function launchChromium(): Promise<Browser> {
  if (!chromiumPath) throw new Error(`The browser tests need Chromium: ${chromiumUnavailableReason}`);
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // Containers and CI runners seldom allow Chromium's own sandbox (user namespaces).
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
}

const WEB_BUILD = join(REPO_ROOT, "apps/web/dist/index.html");

/** The playground's build, made once if scripts/setup.sh has not made it yet. */
export async function ensureWebBuild(): Promise<void> {
  if (existsSync(WEB_BUILD)) return;
  await promisify(execFile)("pnpm", ["--filter", "@taskweaver/web", "build"], {
    cwd: REPO_ROOT,
    timeout: 120_000,
  });
}
