// Execution approval through the library with real parts: the OpenAI client against the fake
// server over HTTP and a real Python kernel. An edited approval runs the edited code in the
// kernel; a rejection runs nothing and the model's next request carries the decline.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { findAttachment, createTaskWeaver, type TaskWeaverEvent } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestAppDir, pythonAnswer, startFakeOpenAIServer, type FakeOpenAIServer, type TestAppDir } from "../src/index.js";

let server: FakeOpenAIServer;
const appDirs: TestAppDir[] = [];

beforeAll(async () => {
  server = await startFakeOpenAIServer({ chunkSize: 10 });
});
afterAll(async () => {
  await server.close();
});
afterEach(() => {
  for (const dir of appDirs.splice(0)) dir.remove();
});

function appDir() {
  const dir = createTestAppDir({
    config: {
      "llm.api_base": server.url,
      "llm.api_key": "test-key",
      "llm.model": "fake-model",
      "session.roles": ["code_interpreter"],
      "code_interpreter.require_confirmation": true,
    },
  });
  appDirs.push(dir);
  return dir;
}

const textAnswer = (content: string) =>
  JSON.stringify({ response: { thought: "Answer in words.", reply_type: "text", reply_content: content } });

describe("execution approval with a real kernel", { timeout: 120_000 }, () => {
  it("runs the edited code in the kernel and records it in the post", async () => {
    const dir = appDir();
    const app = await createTaskWeaver({
      appDir: dir.path,
      createExecutorFactory,
      env: {},
      approveExecution: ({ code }) => ({ decision: "approve", code: code.replace("6 * 7", "6 * 7000") }),
    });
    try {
      const session = await app.createSession();
      const events: TaskWeaverEvent[] = [];
      server.enqueue(pythonAnswer("print(6 * 7)"));
      const round = await session.sendMessage("what is 6 * 7?", { onEvent: (event) => events.push(event) });
      expect(round.state, JSON.stringify(session.lastError)).toBe("finished");
      const post = round.post_list[1]!;
      expect(findAttachment(post, "reply_content")?.content).toBe("print(6 * 7000)");
      expect(findAttachment(post, "execution_result")?.content).toContain("42000");
      expect(events.find((event) => event.type === "execution-approval-result")).toMatchObject({
        decision: "edited",
        code: "print(6 * 7000)",
      });
    } finally {
      await app.close();
    }
  });

  it("runs nothing on a rejection and the model's next request carries the decline", async () => {
    const dir = appDir();
    const app = await createTaskWeaver({
      appDir: dir.path,
      createExecutorFactory,
      env: {},
      approveExecution: () => ({ decision: "reject", reason: "the file is not yours to write" }),
    });
    try {
      const session = await app.createSession();
      server.enqueue(pythonAnswer("open('marker.txt', 'w').write('x')"), textAnswer("Understood, I will not write it."));
      const before = server.chatRequests.length;
      const round = await session.sendMessage("write a marker file");
      expect(round.state, JSON.stringify(session.lastError)).toBe("finished");
      expect(round.post_list.at(-1)?.message).toBe("Understood, I will not write it.");
      expect(JSON.stringify(server.chatRequests[before + 1]?.body)).toContain(
        "The user declined to run this code. Their reason: the file is not yours to write",
      );
      // The kernel never saw the code: the file does not exist in the session's folder.
      expect(existsSync(join(session.workingDirectory, "marker.txt"))).toBe(false);
    } finally {
      await app.close();
    }
  });
});
