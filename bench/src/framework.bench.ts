// The framework's own time for a full planner round (User -> Planner -> CodeInterpreter ->
// Planner -> User) with an instant in-process model and an instant executor: everything the
// round costs except waiting for the model and the kernel. Target: at most 5 ms p50.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import {
  createTaskWeaver,
  type ChatRequest,
  type ChatStreamPart,
  type LanguageModel,
} from "@taskweaver/core";
import { createFakeExecutor } from "../../packages/core/src/testing/fake-executor.js";
import { formatMs, percentile } from "./stats.js";

const ROUNDS = 500;

const plannerToWorker = JSON.stringify({
  response: {
    plan_reasoning: "The user wants a sum; the CodeInterpreter can compute it.",
    init_plan: "1. load the data\n2. sum the revenue <depends on 1>\n3. report <depends on 2>",
    plan: "1. load the data and sum the revenue\n2. report",
    current_plan_step: "1. load the data and sum the revenue",
    stop: "InProcess",
    send_to: "CodeInterpreter",
    message: "Load demo_data.csv and compute the total revenue.",
  },
});
const code = JSON.stringify({
  response: {
    thought: "Read the CSV with pandas and sum the column.",
    reply_type: "python",
    reply_content: "import pandas as pd\ndf = pd.read_csv('demo_data.csv')\ntotal = df['revenue'].sum()\ntotal",
  },
});
const plannerToUser = JSON.stringify({
  response: {
    plan_reasoning: "The result is in.",
    init_plan: "1. load the data\n2. sum the revenue <depends on 1>\n3. report <depends on 2>",
    plan: "1. load the data and sum the revenue\n2. report",
    current_plan_step: "2. report",
    stop: "Completed",
    send_to: "User",
    message: "The total revenue is 123456.78.",
  },
});

export async function run(): Promise<void> {
  let outside = 0; // time spent inside the model and the executor
  const script = [plannerToWorker, code, plannerToUser];
  let turn = 0;
  const model: LanguageModel = {
    modelId: "instant",
    usage: [],
    async *streamChat(_request: ChatRequest): AsyncIterable<ChatStreamPart> {
      const started = performance.now();
      const text = script[turn++ % 3]!;
      // Stream in 8-character pieces, as a real server does.
      const pieces: string[] = [];
      for (let index = 0; index < text.length; index += 8) pieces.push(text.slice(index, index + 8));
      outside += performance.now() - started;
      for (const piece of pieces) yield { type: "text-delta", text: piece };
      yield { type: "finish", finishReason: "stop" };
    },
    async embed(texts) {
      return texts.map(() => []);
    },
  };
  // Instant, and the same answer every time.
  const executor = createFakeExecutor(() => ({ output: "123456.78" }));

  const appDir = mkdtempSync(join(tmpdir(), "tw-bench-"));
  writeFileSync(join(appDir, "taskweaver_config.json"), "{}");
  try {
    const app = await createTaskWeaver({ appDir, env: {}, languageModel: model, executorFactory: () => executor });
    const times: number[] = [];
    let events = 0;
    for (let index = 0; index < ROUNDS + 50; index += 1) {
      // A fresh session now and then keeps the history (and so the prompts) at a realistic size.
      const session = await app.createSession({ warmUp: false });
      outside = 0;
      const started = performance.now();
      const round = await session.sendMessage("what is the total revenue?", { onEvent: () => (events += 1) });
      const elapsed = performance.now() - started - outside;
      if (round.state !== "finished") throw new Error(`round failed: ${session.lastError?.message}`);
      if (round.post_list.length !== 4) throw new Error(`expected 4 posts, got ${round.post_list.length}`);
      if (index >= 50) times.push(elapsed); // the first rounds warm up the JIT
      await session.stop();
    }
    await app.close();
    console.log(`framework time per planner round (4 posts), ${ROUNDS} rounds, model and kernel excluded:`);
    console.log(`  p50 ${formatMs(percentile(times, 50))}   p99 ${formatMs(percentile(times, 99))}   (target: p50 <= 5 ms)`);
    console.log(`  events per round: ${Math.round(events / (ROUNDS + 50))}`);
  } finally {
    rmSync(appDir, { recursive: true, force: true });
  }
}
