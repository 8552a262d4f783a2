// The web playground in real headless Chromium, against the real API on 127.0.0.1, a real local
// Python kernel and the fake model: what a person sees and does, found by accessible names.
import type { ApiServer } from "@taskweaver/api";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createTestAppDir,
  plannerAnswer,
  plannerRound,
  pythonAnswer,
  startFakeOpenAIServer,
  startTestApiServer,
  type FakeOpenAIServer,
  type TestAppDir,
} from "../src/index.js";
import {
  chromiumUnavailableReason,
  ensureWebBuild,
  launchChromium,
  runBrowserTests,
} from "./browser-support.js";

/** Kernels start slowly on a busy machine; every wait below ends well before. */
const HEAVY_TEST_TIMEOUT = 180_000;
/** A round with a kernel start, on a loaded machine. */
const ROUND_MS = 90_000;

let model: FakeOpenAIServer;
let appDir: TestAppDir;
let server: ApiServer;
let browser: Browser;
let context: BrowserContext | undefined;

beforeAll(async () => {
  if (!runBrowserTests) return;
  browser = await launchChromium();
  await ensureWebBuild();
  model = await startFakeOpenAIServer({ chunkSize: 16 });
  appDir = createTestAppDir({
    config: { "llm.api_base": model.url, "llm.api_key": "test-key", "llm.model": "fake-model" },
  });
  server = await startTestApiServer(appDir.path);
}, 180_000);

afterAll(async () => {
  await server?.close(5_000);
  await model?.close();
  await browser?.close();
  appDir?.remove();
});

afterEach(async () => {
  await context?.close();
  context = undefined;
});

async function openPlayground(url = server.url): Promise<Page> {
  context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${url}/`);
  return page;
}

async function send(page: Page, text: string): Promise<void> {
  await page.getByRole("textbox", { name: "Message" }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
}

const answer = (page: Page) => page.getByRole("article", { name: "TaskWeaver's answer" }).last();

describe.skipIf(!runBrowserTests)("the web playground in headless Chromium", () => {
  it(
    "runs the seed request: the code, its result and the answer appear, and the session is listed",
    async () => {
      model.enqueue(
        ...plannerRound(
          "import random\nrandom.seed(7)\nnumbers = [random.randint(1, 100) for _ in range(10)]\nprint(numbers)",
          "Here are 10 random numbers.",
        ),
      );
      const page = await openPlayground();
      await send(page, "generate 10 random numbers");
      const reply = answer(page);
      await reply.getByText("Here are 10 random numbers.").waitFor({ timeout: ROUND_MS });
      const code = reply.getByRole("region", { name: "Python code" });
      await expect(code.locator("pre.code").textContent()).resolves.toContain("random.randint(1, 100)");
      // Highlighted: keywords are their own spans.
      await expect(code.locator(".token-keyword").first().textContent()).resolves.toBe("import");
      const result = await code.getByLabel("Result").textContent();
      expect(result).toMatch(/\[(\d+, ){9}\d+\]/);
      // The plan is there, folded.
      const plan = reply.locator("details.reasoning").first();
      await expect(plan.getAttribute("open")).resolves.toBeNull();
      await expect(page.getByRole("navigation", { name: "Sessions" }).locator("li").count()).resolves.toBe(1);
      expect(model.pendingResponses).toBe(0);

      // A reload loads the session's history from the API.
      await page.reload();
      await answer(page).getByText("Here are 10 random numbers.").waitFor({ timeout: 30_000 });
      await expect(answer(page).getByLabel("Result").textContent()).resolves.toBe(result);
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "shows a chart as an image that loaded, and a file written with open() as a download link",
    async () => {
      model.enqueue(
        ...plannerRound(
          [
            "import matplotlib",
            "matplotlib.use('Agg')",
            "import matplotlib.pyplot as plt",
            "plt.plot([1, 4, 9, 16])",
            "plt.savefig('squares.png')",
            "with open('report.txt', 'w') as handle:",
            "    handle.write('squares: 1 4 9 16\\n')",
          ].join("\n"),
          "Here is the chart.",
        ),
      );
      const page = await openPlayground();
      await page.getByRole("button", { name: "New session" }).click();
      await send(page, "plot the squares");
      const reply = answer(page);
      await reply.getByText("Here is the chart.").waitFor({ timeout: ROUND_MS });
      const image = reply.locator("img");
      await image.first().waitFor();
      await page.waitForFunction(() =>
        [...document.querySelectorAll("article img")].some((img) => (img as HTMLImageElement).complete),
      );
      const width = await image.first().evaluate((img) => (img as HTMLImageElement).naturalWidth);
      expect(width).toBeGreaterThan(0);
      const link = reply.getByRole("link", { name: "report.txt" });
      await link.waitFor({ timeout: 10_000 });
      const href = await link.getAttribute("href");
      const download = await page.evaluate(async (url) => (await fetch(url!)).text(), href);
      expect(download).toBe("squares: 1 4 9 16\n");
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "shows an HTML table the code wrote (a DataFrame's to_html) as a table, with its scripts and handlers removed",
    async () => {
      const html =
        "<table class='dataframe'><thead><tr><th>n</th><th>square</th></tr></thead>" +
        "<tbody><tr><td>3</td><td>9</td></tr></tbody></table>" +
        "<script>window.pwned = 'script'</script><img src='missing.png' onerror=\"window.pwned = 'handler'\">";
      model.enqueue(
        ...plannerRound(`open('squares.html', 'w').write(${JSON.stringify(html)})`, "The table is written."),
      );
      const page = await openPlayground();
      await send(page, "write the squares as an HTML table");
      const reply = answer(page);
      await reply.getByText("The table is written.").waitFor({ timeout: ROUND_MS });
      const table = reply.getByRole("table");
      await table.waitFor({ timeout: 10_000 });
      await expect(table.getByRole("cell", { name: "9" }).count()).resolves.toBe(1);
      await expect(reply.locator("script").count()).resolves.toBe(0);
      await expect(reply.locator("[onerror]").count()).resolves.toBe(0);
      await expect(page.evaluate(() => (window as { pwned?: string }).pwned)).resolves.toBeUndefined();
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "draws a DataFrame shown as the last expression as a table, live and after a reload",
    async () => {
      model.enqueue(
        ...plannerRound(
          "import pandas as pd\ndf = pd.DataFrame({'city': ['Lima', 'Oslo'], 'people': [10, 7]})\ndf",
          "Here is the frame.",
        ),
      );
      const page = await openPlayground();
      await send(page, "show a small DataFrame");
      const reply = answer(page);
      await reply.getByText("Here is the frame.").waitFor({ timeout: ROUND_MS });
      const table = reply.getByRole("table");
      await table.waitFor({ timeout: 10_000 });
      await expect(table.getByRole("cell", { name: "Oslo" }).count()).resolves.toBe(1);
      // The stored round draws the same table from the session's history.
      await page.reload();
      const reloaded = answer(page);
      await reloaded.getByText("Here is the frame.").waitFor({ timeout: ROUND_MS });
      await expect(reloaded.getByRole("table").getByRole("cell", { name: "Lima" }).count()).resolves.toBe(1);
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "attaches a picked CSV and a dropped file to the next message, and the round reads them",
    async () => {
      model.enqueue(
        plannerAnswer("CodeInterpreter", "Count the rows of numbers.csv and read notes.txt."),
        pythonAnswer(
          "rows = open('numbers.csv').read().splitlines()\nprint('rows', len(rows) - 1)\nprint(open('notes.txt').read())",
        ),
        plannerAnswer("User", "numbers.csv has 3 rows."),
      );
      const page = await openPlayground();
      await page.getByLabel("Attach files").setInputFiles({
        name: "numbers.csv",
        mimeType: "text/csv",
        buffer: Buffer.from("n\n1\n2\n3\n"),
      });
      // Dropped on the page, as a person drags a file from their desktop.
      await page.evaluate(() => {
        const transfer = new DataTransfer();
        transfer.items.add(new File(["dropped notes"], "notes.txt", { type: "text/plain" }));
        const target = document.querySelector(".messages")!;
        target.dispatchEvent(
          new DragEvent("dragover", { bubbles: true, cancelable: true, dataTransfer: transfer }),
        );
        target.dispatchEvent(
          new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: transfer }),
        );
      });
      const attached = page.getByRole("list", { name: "Attached files" });
      await attached.getByText("numbers.csv").waitFor();
      await attached.getByText("notes.txt").waitFor();
      // No session selected: sending starts one.
      await send(page, "how many rows has numbers.csv?");
      const reply = answer(page);
      await reply.getByText("numbers.csv has 3 rows.").waitFor({ timeout: ROUND_MS });
      const result = await reply.getByLabel("Result").textContent();
      expect(result).toContain("rows 3");
      expect(result).toContain("dropped notes");
      await expect(page.getByRole("list", { name: "Attached files" }).count()).resolves.toBe(0);
      await page
        .getByRole("article", { name: "Your message" })
        .locator(".chip", { hasText: "numbers.csv" })
        .waitFor();
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "stops a round stuck in `while True: pass`, keeps the session, and the next message works",
    async () => {
      model.enqueue(plannerAnswer("CodeInterpreter", "Loop."), pythonAnswer("while True:\n    pass"));
      const page = await openPlayground();
      await send(page, "loop forever");
      await answer(page).locator(".tool-state", { hasText: "running" }).waitFor({ timeout: ROUND_MS });
      await page.getByRole("button", { name: "Stop" }).click();
      await page.getByRole("button", { name: "Send" }).waitFor({ timeout: 30_000 });
      await page.getByRole("status").getByText("Stopped.").waitFor();
      await expect(page.getByRole("alert").count()).resolves.toBe(0);

      model.enqueue(plannerAnswer("User", "Still here after the stop."));
      await send(page, "are you there?");
      await answer(page).getByText("Still here after the stop.").waitFor({ timeout: ROUND_MS });
      await expect(
        page.getByRole("navigation", { name: "Sessions" }).locator("li").count(),
      ).resolves.toBeGreaterThan(0);
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "continues the running round after a reload of the page",
    async () => {
      model.enqueue(
        ...plannerRound(
          "import time\nprint('before the reload', flush=True)\ntime.sleep(5)\nprint('after the reload')",
          "Finished after the reload.",
        ),
      );
      const page = await openPlayground();
      await send(page, "take your time");
      // The code's first output (not only the code, which holds the same words) is on the page.
      await answer(page).getByLabel("Result").getByText("before the reload").waitFor({ timeout: ROUND_MS });
      await page.reload();
      const reply = answer(page);
      // Replayed from the round's start, then followed live to its end.
      await reply.getByLabel("Result").getByText("before the reload").waitFor({ timeout: 30_000 });
      await reply.getByText("Finished after the reload.").waitFor({ timeout: ROUND_MS });
      await expect(reply.getByLabel("Result").textContent()).resolves.toContain("after the reload");
      await expect(page.getByRole("article", { name: "TaskWeaver's answer" }).count()).resolves.toBe(1);
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "says so when a round fails",
    async () => {
      model.enqueue({
        status: 400,
        errorBody: { error: { message: "the model refused", type: "invalid_request_error" } },
      });
      const page = await openPlayground();
      await send(page, "fail please");
      const alert = page.getByRole("alert").filter({ hasText: "The round failed" });
      await alert.waitFor({ timeout: ROUND_MS });
      await page.getByRole("button", { name: "Send" }).waitFor();
    },
    HEAVY_TEST_TIMEOUT,
  );
});

describe.skipIf(!runBrowserTests)("the web playground on a server with API keys", () => {
  let keyed: ApiServer | undefined;
  afterAll(async () => {
    await keyed?.close(5_000);
  });

  it(
    "asks for the key, says clearly when it is wrong, keeps it out of the URL, loads images with it, and says when the server is down",
    async () => {
      keyed = await startTestApiServer(appDir.path, { apiKeys: ["the-right-key"] });
      const page = await openPlayground(keyed.url);
      await page.getByText("This server needs an API key.").waitFor();
      const keyBox = page.getByLabel("API key");
      await keyBox.fill("a-wrong-key");
      await page.getByRole("button", { name: "Use key" }).click();
      await page.getByRole("alert").getByText("The API key was not accepted.").waitFor();
      await page.getByLabel("API key").fill("the-right-key");
      await page.getByRole("button", { name: "Use key" }).click();
      await page.getByRole("button", { name: "New session" }).waitFor();
      await expect(page.getByLabel("API key").count()).resolves.toBe(0);

      model.enqueue(
        ...plannerRound(
          "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.bar([1, 2], [3, 4])\nplt.savefig('bars.png')",
          "Bars drawn.",
        ),
      );
      await send(page, "draw bars");
      const reply = answer(page);
      await reply.getByText("Bars drawn.").waitFor({ timeout: ROUND_MS });
      const image = reply.locator("img").first();
      await image.waitFor();
      // The file route needs the key, which an <img> cannot send: it is shown from a blob URL.
      await expect(image.getAttribute("src")).resolves.toMatch(/^blob:/);
      await page.waitForFunction(() => {
        const img = document.querySelector("article img") as HTMLImageElement | null;
        return img !== null && img.complete && img.naturalWidth > 0;
      });
      expect(page.url()).not.toContain("the-right-key");
      await expect(page.evaluate(() => sessionStorage.getItem("taskweaver-api-key"))).resolves.toBe(
        "the-right-key",
      );

      await keyed.close(5_000);
      keyed = undefined;
      await page.getByRole("button", { name: "New session" }).click();
      await page
        .getByRole("alert")
        .getByText(/does not answer/)
        .waitFor({ timeout: 10_000 });
    },
    HEAVY_TEST_TIMEOUT,
  );
});

if (!runBrowserTests) {
  describe("the web playground in headless Chromium", () => {
    it.skip(`skipped: ${chromiumUnavailableReason}`, () => undefined);
  });
}
