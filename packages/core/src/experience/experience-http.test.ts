// Experience over the real OpenAI client: the summary and the embeddings travel over HTTP to
// the fake OpenAI-compatible server, in the wire format a real endpoint sees.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFakeOpenAIServer, type FakeOpenAIServer } from "@taskweaver/fake-openai";
import { afterAll, beforeAll, expect, it } from "vitest";
import { parse } from "yaml";
import { createLanguageModel } from "../llm/openai-language-model.js";
import { createExperienceRetriever, createExperienceStore } from "./experience-store.js";
import { saveExperience } from "./save-experience.js";

let server: FakeOpenAIServer;
let directory: string;
beforeAll(async () => {
  // Embeddings that point one way for texts about charts and another for the rest.
  server = await startFakeOpenAIServer({ embed: (text) => (/chart/i.test(text) ? [1, 0.1] : [0.1, 1]) });
  directory = mkdtempSync(join(tmpdir(), "tw-experience-http-"));
});
afterAll(async () => {
  await server.close();
  rmSync(directory, { recursive: true, force: true });
});

it("summarises a saved session through the chat endpoint, embeds it through the embeddings endpoint, and retrieves it for a similar request", async () => {
  const model = createLanguageModel({ model: "fake-model", apiKey: "k", baseUrl: server.url, embeddingModel: "fake-embedding" });
  await saveExperience(
    [
      {
        id: "round-1",
        user_query: "draw a chart of the sales",
        state: "finished",
        post_list: [
          { id: "p1", send_from: "User", send_to: "Planner", message: "draw a chart of the sales", attachment_list: [] },
          { id: "p2", send_from: "Planner", send_to: "User", message: "Saved chart.png", attachment_list: [] },
        ],
      },
    ],
    { experienceDir: directory, sessionId: "s1" },
  );
  server.enqueue(JSON.stringify({ experience: "- Save each chart as a PNG file and name it in the answer." }));
  const problems: unknown[] = [];
  const retrieve = createExperienceRetriever(
    createExperienceStore({ dir: directory, model, threshold: 0.5, embeddingModelId: "fake-embedding" }),
    { onProblem: (problem) => problems.push(problem) },
  );

  expect(await retrieve("make a bar chart of revenue")).toBe("- Save each chart as a PNG file and name it in the answer.");
  expect(await retrieve("count the rows")).toBeUndefined();
  expect(problems).toEqual([]);

  const chat = server.chatRequests.at(-1)!.body as { messages: { content: string }[]; response_format: unknown };
  expect(chat.response_format).toEqual({ type: "json_object" });
  expect(chat.messages[1]!.content).toContain("User -> Planner: draw a chart of the sales");
  const embeddings = server.requests.filter((request) => request.path.endsWith("/embeddings"));
  expect(embeddings.map((request) => (request.body as { model: string }).model)).toEqual(["fake-embedding", "fake-embedding", "fake-embedding"]);
  const stored = parse(readFileSync(join(directory, "exp_s1.yaml"), "utf8")) as { embedding: number[] };
  expect(stored.embedding[0]).toBeCloseTo(1);
  expect(stored.embedding[1]).toBeCloseTo(0.1);
});
