// Two API processes on one PostgreSQL database, as a load balancer spreads requests: a round
// that waits for approval on instance A is released by an answer that reaches instance B.
import { parseServerSentEvents } from "@taskweaver/api";
import type { TaskWeaverEvent } from "@taskweaver/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createTestAppDir,
  pythonAnswer,
  startFakeOpenAIServer,
  type FakeOpenAIServer,
  type TestAppDir,
} from "../src/index.js";
import {
  createTestDatabaseSchema,
  startApiProcess,
  testDatabaseUnavailableReason,
  type ApiProcess,
  type TestDatabaseSchema,
} from "../src/api-process.js";

const CI = process.env.CI === "true";
const unavailableReason = await testDatabaseUnavailableReason();
const runOrFail = unavailableReason === undefined || CI;

let model: FakeOpenAIServer;
let appDir: TestAppDir;
let database: TestDatabaseSchema | undefined;
const instances: ApiProcess[] = [];

beforeAll(async () => {
  if (!runOrFail) return;
  if (unavailableReason !== undefined) throw new Error(`This test needs PostgreSQL: ${unavailableReason}`);
  model = await startFakeOpenAIServer({ chunkSize: 64 });
  appDir = createTestAppDir({
    config: {
      "llm.api_base": model.url,
      "llm.api_key": "test-key",
      "llm.model": "fake-model",
      "session.roles": ["code_interpreter"],
      "code_interpreter.require_confirmation": true,
    },
  });
  database = createTestDatabaseSchema("api_approval_e2e");
  // One after the other: the first applies the schema's migrations.
  for (const name of ["instance-a", "instance-b"]) {
    instances.push(
      await startApiProcess({
        appDir: appDir.path,
        env: { API_DATABASE_URL: database.url },
        config: {
          "api.database_schema": database.schema,
          "api.instance_id": name,
          "api.shutdown_grace_period": 2,
        },
      }),
    );
  }
}, 180_000);

afterAll(async () => {
  await Promise.all(instances.map((instance) => instance.stop()));
  await model?.close();
  await database?.drop();
  appDir?.remove();
}, 90_000);

describe.runIf(runOrFail)("approval across API instances sharing PostgreSQL", () => {
  it(
    "releases a round waiting on instance A with an answer sent to instance B",
    { timeout: 180_000 },
    async () => {
      const [a, b] = instances as [ApiProcess, ApiProcess];
      const created = await fetch(`${a.url}/api/v1/sessions`, { method: "POST" });
      expect(created.status).toBe(201);
      const id = ((await created.json()) as { id: string }).id;
      model.enqueue(pythonAnswer("print(6 * 7)"));
      const response = await fetch(`${a.url}/api/v1/sessions/${id}/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream" },
        body: JSON.stringify({ message: "what is 6 * 7?" }),
      });
      expect(response.status).toBe(200);
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      const events: TaskWeaverEvent[] = [];
      let buffer = "";
      const readUntil = async (type: TaskWeaverEvent["type"]) => {
        for (;;) {
          const found = events.find((event) => event.type === type);
          if (found) return found;
          const { value, done } = await reader.read();
          if (done)
            throw new Error(
              `the stream ended without ${type}: ${events.map((event) => event.type).join(", ")}`,
            );
          buffer += decoder.decode(value, { stream: true });
          const end = buffer.lastIndexOf("\n\n");
          if (end < 0) continue;
          events.push(
            ...parseServerSentEvents(buffer.slice(0, end + 2)).map(
              (event) => JSON.parse(event.data) as TaskWeaverEvent,
            ),
          );
          buffer = buffer.slice(end + 2);
        }
      };
      const request = await readUntil("execution-approval-request");
      if (request.type !== "execution-approval-request") throw new Error("unreachable");

      const answered = await fetch(`${b.url}/api/v1/sessions/${id}/approvals/${request.approvalId}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ decision: "approve", code: "print(6 * 7000)" }),
      });
      expect(answered.status).toBe(200);
      const end = await readUntil("round-end");
      if (end.type !== "round-end") throw new Error("unreachable");
      expect(events.find((event) => event.type === "execution-approval-result")).toMatchObject({
        decision: "edited",
      });
      const result = end.round.post_list[1]?.attachment_list.find((item) => item.type === "execution_result");
      expect(result?.content).toContain("42000");

      // Instance A answers the second attempt: the answer is stored, so it is refused there too.
      const again = await fetch(`${a.url}/api/v1/sessions/${id}/approvals/${request.approvalId}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ decision: "reject" }),
      });
      expect(again.status).toBe(409);
    },
  );
});
