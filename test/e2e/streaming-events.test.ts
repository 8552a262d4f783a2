// Events reach the caller while the model is still answering, not only when it is done.
import { createTaskWeaver, type TaskWeaverEvent } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestAppDir, plannerAnswer, startFakeOpenAIServer, type FakeOpenAIServer } from "../src/index.js";

let server: FakeOpenAIServer;
beforeAll(async () => {
  server = await startFakeOpenAIServer({ chunkSize: 4, chunkDelayMs: 15 });
});
afterAll(async () => {
  await server.close();
});

it("delivers plan and message deltas before the model's answer has finished streaming", async () => {
  const dir = createTestAppDir({
    config: { "llm.api_base": server.url, "llm.api_key": "k", "llm.model": "fake-model" },
  });
  try {
    server.enqueue(
      JSON.stringify({
        response: {
          plan_reasoning: "Nothing to compute.",
          init_plan: "1. greet the user",
          plan: "1. greet the user",
          current_plan_step: "1. greet the user",
          stop: "Completed",
          send_to: "User",
          message: "Hello there, nice to meet you.",
        },
      }),
    );
    const app = await createTaskWeaver({ appDir: dir.path, createExecutorFactory, env: {} });
    const session = await app.createSession({ warmUp: false });
    const timeline: { event: TaskWeaverEvent; at: number }[] = [];
    const round = await session.sendMessage("hi", { onEvent: (event) => timeline.push({ event, at: Date.now() }) });
    await app.close();
    expect(round.state).toBe("finished");
    const request = server.requests.at(-1)!;
    expect(request.finishedAt).toBeDefined();
    const firstPlanDelta = timeline.find((item) => item.event.type === "attachment-delta" && !item.event.done);
    const firstMessageDelta = timeline.find((item) => item.event.type === "post-delta");
    expect(firstPlanDelta).toBeDefined();
    expect(firstMessageDelta).toBeDefined();
    // ~60 chunks 15 ms apart: the first pieces arrive well before the last one is sent.
    expect(firstPlanDelta!.at).toBeLessThan(request.finishedAt! - 200);
    expect(firstMessageDelta!.at).toBeLessThan(request.finishedAt!);
    const messageText = timeline
      .flatMap((item) => (item.event.type === "post-delta" ? [item.event.delta] : []))
      .join("");
    expect(messageText).toBe("Hello there, nice to meet you.");
  } finally {
    dir.remove();
  }
});

it("tells the caller when a model call is retried, as a status of the post waiting for it", async () => {
  const dir = createTestAppDir({
    config: { "llm.api_base": server.url, "llm.api_key": "k", "llm.model": "fake-model" },
  });
  try {
    server.enqueue(
      { status: 429, headers: { "retry-after-ms": "40" } },
      { status: 503 },
      plannerAnswer("User", "Hello after the wait."),
    );
    const app = await createTaskWeaver({ appDir: dir.path, createExecutorFactory, env: {} });
    const session = await app.createSession({ warmUp: false });
    const events: TaskWeaverEvent[] = [];
    const round = await session.sendMessage("hi", { onEvent: (event) => events.push(event) });
    await app.close();
    expect(round.state).toBe("finished");
    expect(round.post_list.at(-1)!.message).toBe("Hello after the wait.");
    const statuses = events.flatMap((event) => (event.type === "post-status" ? [event.status] : []));
    expect(statuses).toEqual([
      "calling the model",
      "the model is rate limited (HTTP 429); retrying in 40 ms (retry 1)",
      expect.stringMatching(/^the model call failed \(HTTP 503\); retrying in \d+(\.\d)? (ms|s) \(retry 2\)$/),
    ]);
  } finally {
    dir.remove();
  }
});
