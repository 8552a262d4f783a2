// Token counts (o200k_base) of our Planner and CodeInterpreter prompts with the sample project.
// The original TaskWeaver's were about 2,400 (Planner) and 1,200 (CodeInterpreter) tokens.
import { join } from "node:path";
import { createTaskWeaver, type ChatRequest, type LanguageModel } from "@taskweaver/core";
import { REPO_ROOT } from "@taskweaver/testing";
import { encode } from "gpt-tokenizer/encoding/o200k_base";

function capturingModel(answer: string) {
  const requests: ChatRequest[] = [];
  const model: LanguageModel = {
    modelId: "capture",
    usage: [],
    async *streamChat(request) {
      requests.push(request);
      yield { type: "text-delta", text: answer };
      yield { type: "finish", finishReason: "stop" };
    },
    async embed(texts) {
      return texts.map(() => [1]);
    },
  };
  return { model, requests };
}

function tokens(request: ChatRequest) {
  const system = request.messages[0]!.content as string;
  const all = request.messages.map((message) => (typeof message.content === "string" ? message.content : "")).join("\n");
  return { system: encode(system).length, whole: encode(all).length, messages: request.messages.length };
}

async function firstRequest(roles: string[], answer: string): Promise<ChatRequest> {
  const { model, requests } = capturingModel(answer);
  const app = await createTaskWeaver({
    appDir: join(REPO_ROOT, "project"),
    env: {},
    languageModel: model,
    configOverrides: { "session.roles": roles },
    executorFactory: () => {
      throw new Error("no kernel needed");
    },
  });
  const session = await app.createSession({ warmUp: false });
  await session.sendMessage("What is the total revenue per region?");
  await app.close();
  return requests[0]!;
}

export async function run(): Promise<void> {
  const planner = tokens(
    await firstRequest(
      ["planner", "code_interpreter"],
      JSON.stringify({ response: { init_plan: "1", plan: "1", current_plan_step: "1", stop: "Completed", send_to: "User", message: "ok" } }),
    ),
  );
  const coder = tokens(
    await firstRequest(["code_interpreter"], JSON.stringify({ response: { thought: "t", reply_type: "text", reply_content: "ok" } })),
  );
  console.log("prompt sizes with the sample project (o200k_base tokens):");
  console.log(`  Planner          system prompt ${planner.system}   first request in all ${planner.whole} (${planner.messages} messages)   original: ~2,400`);
  console.log(`  CodeInterpreter  system prompt ${coder.system}   first request in all ${coder.whole} (${coder.messages} messages)   original: ~1,200`);
}
