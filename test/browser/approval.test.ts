// Approving code in the playground (`code_interpreter.require_confirmation`): the Run, Reject and
// Edit buttons of a code block waiting for approval, in headless Chromium against the real API,
// a real kernel and the fake model.
import type { ApiServer } from "@taskweaver/api";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createTestAppDir,
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

const HEAVY_TEST_TIMEOUT = 180_000;
const ROUND_MS = 90_000;

let model: FakeOpenAIServer;
let appDir: TestAppDir;
let server: ApiServer;
let browser: Browser;

beforeAll(async () => {
  if (!runBrowserTests) return;
  browser = await launchChromium();
  await ensureWebBuild();
  model = await startFakeOpenAIServer({ chunkSize: 16 });
  appDir = createTestAppDir({
    config: {
      "llm.api_base": model.url,
      "llm.api_key": "test-key",
      "llm.model": "fake-model",
      "session.roles": ["code_interpreter"],
      "code_interpreter.require_confirmation": true,
    },
  });
  server = await startTestApiServer(appDir.path);
}, 180_000);

afterAll(async () => {
  await server?.close(5_000);
  await model?.close();
  await browser?.close();
  appDir?.remove();
});

const textAnswer = (content: string) =>
  JSON.stringify({ response: { thought: "Answer in words.", reply_type: "text", reply_content: content } });

async function askForCode(text: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${server.url}/`);
  await page.getByRole("textbox", { name: "Message" }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
  await page.getByText("This code waits for your approval.").waitFor({ timeout: ROUND_MS });
  return page;
}

const codeBlock = (page: Page) =>
  page
    .getByRole("article", { name: "TaskWeaver's answer" })
    .last()
    .getByRole("region", { name: "Python code" });

describe.skipIf(!runBrowserTests)("approving code in the playground", () => {
  it(
    "Run releases the waiting round: the code runs and the result appears",
    async () => {
      // The CodeInterpreter answers the user itself after a successful run: one model answer.
      model.enqueue(pythonAnswer("print(6 * 7)"));
      const page = await askForCode("what is 6 * 7?");
      try {
        await expect(codeBlock(page).locator("pre.code").textContent()).resolves.toBe("print(6 * 7)");
        await page.getByRole("button", { name: "Run", exact: true }).click();
        await codeBlock(page).getByLabel("Result").getByText("42").waitFor({ timeout: ROUND_MS });
        await expect(page.getByRole("button", { name: "Run", exact: true }).count()).resolves.toBe(0);
        await expect(codeBlock(page).count()).resolves.toBe(1);
        expect(model.pendingResponses).toBe(0);
        await page.getByRole("button", { name: "Send" }).waitFor();
      } finally {
        await page.close();
      }
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "Reject shows the decline, and the model's answer after it",
    async () => {
      model.enqueue(
        pythonAnswer("open('marker.txt', 'w').write('x')"),
        textAnswer("Understood, I will not write it."),
      );
      const page = await askForCode("write a marker file");
      try {
        await page.getByRole("button", { name: "Reject" }).click();
        await codeBlock(page)
          .getByText("The code was rejected and did not run.")
          .waitFor({ timeout: ROUND_MS });
        await page
          .locator(".answer", { hasText: "Understood, I will not write it." })
          .waitFor({ timeout: ROUND_MS });
        expect(model.pendingResponses).toBe(0);
      } finally {
        await page.close();
      }
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "Edit runs the edited code instead",
    async () => {
      model.enqueue(pythonAnswer("print(6 * 7)"));
      const page = await askForCode("multiply");
      try {
        await page.getByRole("button", { name: "Edit" }).click();
        await page.getByLabel("Edited code").fill("print(7 * 7)");
        await page.getByRole("button", { name: "Run edited code" }).click();
        await codeBlock(page).getByLabel("Result").getByText("49").waitFor({ timeout: ROUND_MS });
        // One code block, showing the code that ran.
        await expect(codeBlock(page).locator("pre.code").allTextContents()).resolves.toEqual([
          "print(7 * 7)",
        ]);
      } finally {
        await page.close();
      }
    },
    HEAVY_TEST_TIMEOUT,
  );
});

if (!runBrowserTests) {
  describe("approving code in the playground", () => {
    it.skip(`skipped: ${chromiumUnavailableReason}`, () => undefined);
  });
}
