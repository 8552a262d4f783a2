// Screenshots of real rounds for apps/web/README.md: the real API, a real kernel, the fake model
// and headless Chromium. `pnpm exec tsx test/browser/take-screenshots.ts` writes apps/web/docs/*.png.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  REPO_ROOT,
  createTestAppDir,
  plannerRound,
  startFakeOpenAIServer,
  startTestApiServer,
} from "../src/index.js";
import { ensureWebBuild, launchChromium } from "./browser-support.js";

const OUT = join(REPO_ROOT, "apps/web/docs");
const ROUND_MS = 120_000;

await ensureWebBuild();
mkdirSync(OUT, { recursive: true });
const model = await startFakeOpenAIServer({ chunkSize: 16 });
const appDir = createTestAppDir({
  config: { "llm.api_base": model.url, "llm.api_key": "test-key", "llm.model": "fake-model" },
});
const server = await startTestApiServer(appDir.path);
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  await page.goto(`${server.url}/`);
  const send = async (text: string) => {
    await page.getByRole("textbox", { name: "Message" }).fill(text);
    await page.getByRole("button", { name: "Send" }).click();
  };

  model.enqueue(
    ...plannerRound(
      "import random\n\n# ten numbers from 1 to 100\nnumbers = [random.randint(1, 100) for _ in range(10)]\nprint(numbers)",
      "Here are 10 random numbers between 1 and 100, printed by the code above.",
      {
        reasoning: "The user wants random numbers: the CodeInterpreter can generate them.",
        steps: ["generate 10 random numbers", "report them to the user"],
      },
    ),
  );
  await send("generate 10 random numbers");
  await page.getByText("Here are 10 random numbers").waitFor({ timeout: ROUND_MS });
  // The plan unfolded, as a reader would open it.
  await page.locator("details.reasoning summary", { hasText: "Planner: Plan" }).first().click();
  await page.screenshot({ path: join(OUT, "round.png") });

  model.enqueue(
    ...plannerRound(
      [
        "import matplotlib",
        "matplotlib.use('Agg')",
        "import matplotlib.pyplot as plt",
        "",
        "squares = [n * n for n in range(1, 11)]",
        "plt.figure(figsize=(6, 3))",
        "plt.bar(range(1, 11), squares, color='#2563eb')",
        "plt.title('Squares of 1 to 10')",
        "plt.savefig('squares.png', dpi=80, bbox_inches='tight')",
        "with open('squares.csv', 'w') as handle:",
        "    handle.write('n,square\\n' + ''.join(f'{n},{n * n}\\n' for n in range(1, 11)))",
      ].join("\n"),
      "The chart of the squares is above; the numbers are in squares.csv.",
    ),
  );
  await send("plot the squares of 1 to 10 and save them as CSV");
  await page.getByText("The chart of the squares is above").waitFor({ timeout: ROUND_MS });
  await page.waitForFunction(() => {
    const image = document.querySelector("article img") as HTMLImageElement | null;
    return image !== null && image.complete && image.naturalWidth > 0;
  });
  await page.getByRole("link", { name: "squares.csv" }).waitFor({ timeout: 10_000 });
  await page.locator(".messages").evaluate((element) => element.scrollTo(0, element.scrollHeight));
  await page.screenshot({ path: join(OUT, "chart.png") });
  console.log(`screenshots in ${OUT}`);
} finally {
  await browser.close();
  await server.close(5_000);
  await model.close();
  appDir.remove();
}
