// The ImageReader over the real OpenAI client: the images travel inline, as the vision API
// expects them, in the HTTP request the fake server receives.
import { readFileSync, writeFileSync } from "node:fs";
import { createTaskWeaver } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestAppDir, startFakeOpenAIServer, type FakeOpenAIServer } from "../src/index.js";

let server: FakeOpenAIServer;
beforeAll(async () => {
  server = await startFakeOpenAIServer({ chunkSize: 6 });
});
afterAll(async () => {
  await server.close();
});

it("sends an image of the working directory as a base64 data URL with the question, and streams back the description", async () => {
  const dir = createTestAppDir({
    config: { "llm.api_base": server.url, "llm.api_key": "k", "llm.model": "fake-model", "session.roles": ["image_reader"] },
    copySample: false,
  });
  const app = await createTaskWeaver({ appDir: dir.path, createExecutorFactory, env: {} });
  try {
    const session = await app.createSession();
    // A real 1x1 PNG, written where the user's files land.
    const png = Buffer.from(
      "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
      "base64",
    );
    writeFileSync(`${session.workingDirectory}/dot.png`, png);
    server.enqueue("A single red pixel.");
    const deltas: string[] = [];
    const round = await session.sendMessage("What colour is dot.png?", {
      onEvent: (event) => {
        if (event.type === "post-delta") deltas.push(event.delta);
      },
    });
    expect(round.state).toBe("finished");
    expect(round.post_list[1]!.message).toBe("A single red pixel.");
    expect(deltas.length).toBeGreaterThan(1);
    const body = server.chatRequests.at(-1)!.body as {
      messages: { role: string; content: string | { type: string; text?: string; image_url?: { url: string } }[] }[];
      response_format?: unknown;
    };
    expect(body.response_format).toBeUndefined();
    const parts = body.messages[1]!.content as { type: string; text?: string; image_url?: { url: string } }[];
    expect(parts[0]).toEqual({ type: "text", text: "What colour is dot.png?" });
    const image = parts.find((part) => part.type === "image_url");
    expect(image?.image_url?.url).toBe(`data:image/png;base64,${readFileSync(`${session.workingDirectory}/dot.png`).toString("base64")}`);
  } finally {
    await app.close();
    dir.remove();
  }
});
