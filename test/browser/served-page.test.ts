// The page as the two ways of starting the API serve it: `pnpm serve` (tsx) prints its URL, and
// the bundled `taskweaver-api` bin carries the build with it. Both load in Chromium.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  REPO_ROOT,
  cleanEnvironment,
  createTestAppDir,
  startApiProcess,
  type TestAppDir,
} from "../src/index.js";
import {
  chromiumUnavailableReason,
  ensureWebBuild,
  launchChromium,
  runBrowserTests,
} from "./browser-support.js";

const BIN = join(REPO_ROOT, "apps/api/dist/bin/taskweaver-api.js");

let browser: Browser;
let appDir: TestAppDir;
const children: ChildProcess[] = [];

beforeAll(async () => {
  if (!runBrowserTests) return;
  browser = await launchChromium();
  await ensureWebBuild();
  appDir = createTestAppDir({
    config: { "llm.api_base": "http://127.0.0.1:9/v1", "llm.api_key": "k", "llm.model": "m" },
  });
}, 180_000);

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await browser?.close();
  appDir?.remove();
});

/** Loads the page and waits for the app to render its controls. */
async function pageRenders(url: string): Promise<void> {
  const page = await browser.newPage();
  const external: string[] = [];
  page.on("request", (request) => {
    if (!request.url().startsWith(url)) external.push(request.url());
  });
  try {
    await page.goto(url);
    await page.getByRole("button", { name: "New session" }).waitFor({ timeout: 30_000 });
    await page.getByRole("textbox", { name: "Message" }).waitFor();
    // Fonts, scripts and styles all come from the server itself.
    expect(external).toEqual([]);
  } finally {
    await page.close();
  }
}

describe.skipIf(!runBrowserTests)("the served page", () => {
  it("is at the URL `pnpm serve` prints", async () => {
    const server = await startApiProcess({ appDir: appDir.path });
    try {
      const printed = /Playground: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(server.output())?.[1];
      expect(printed).toBe(`${server.url}/`);
      await pageRenders(printed!);
    } finally {
      await server.stop();
    }
  }, 120_000);

  it("comes with the bundled taskweaver-api bin", async () => {
    await promisify(execFile)(process.execPath, [join(REPO_ROOT, "apps/api/scripts/build-bin.mjs")], {
      cwd: REPO_ROOT,
      timeout: 120_000,
    });
    const child = spawn(process.execPath, [BIN, "-p", appDir.path, "--port", "0"], {
      env: cleanEnvironment(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let output = "";
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the bin printed no URL:\n${output}`)), 60_000);
      const read = (chunk: Buffer) => {
        output += chunk.toString();
        const match = /Playground: (http:\/\/\S+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      };
      child.stdout.on("data", read);
      child.stderr.on("data", read);
      child.once("exit", (code) => reject(new Error(`the bin exited (${code}):\n${output}`)));
    });
    try {
      await pageRenders(url);
    } finally {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    }
  }, 180_000);
});

if (!runBrowserTests) {
  describe("the served page", () => {
    it.skip(`skipped: ${chromiumUnavailableReason}`, () => undefined);
  });
}
