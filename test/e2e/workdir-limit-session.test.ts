// The working-directory limit through a whole session: the real CLI, the real OpenAI client
// against the fake server, a real kernel. A round whose code fills the working directory is
// stopped, the model reads why (naming execution_service.max_workdir_bytes) in its next request,
// and its next code runs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createTestAppDir,
  pythonAnswer,
  runCli,
  startFakeOpenAIServer,
  type FakeOpenAIServer,
} from "../src/index.js";

let server: FakeOpenAIServer;
beforeAll(async () => {
  server = await startFakeOpenAIServer({ chunkSize: 64 });
});
afterAll(async () => {
  await server.close();
});

describe("the working-directory limit in a session", () => {
  it(
    "stops code that fills the working directory, tells the model, and the session goes on",
    { timeout: 120_000 },
    async () => {
      const dir = createTestAppDir({
        config: {
          "llm.api_base": server.url,
          "llm.api_key": "test-key",
          "llm.model": "fake-model",
          "session.roles": ["code_interpreter"],
          "execution_service.max_workdir_bytes": 8 * 1024 * 1024,
        },
      });
      try {
        const before = server.requests.filter((request) => request.path.endsWith("/chat/completions")).length;
        server.enqueue(
          pythonAnswer(
            "import os, time\nfor index in range(200):\n    open(f'part_{index}.bin', 'wb').write(b'x' * (1024 * 1024))\n    time.sleep(0.01)",
            "I will write the files.",
          ),
          pythonAnswer(
            "import os\nfor name in os.listdir('.'):\n    os.remove(name)\nremaining = len(os.listdir('.'))\nremaining",
            "I will clean up.",
          ),
        );
        const run = await runCli(["-p", dir.path], { input: ["write 200 MiB of files"] });
        expect(run.exitCode, run.stderr).toBe(0);
        const requests = server.requests
          .filter((request) => request.path.endsWith("/chat/completions"))
          .slice(before);
        expect(requests.length).toBeGreaterThanOrEqual(2);
        const second = JSON.stringify((requests[1]!.body as { messages: unknown[] }).messages);
        expect(second).toContain("execution_service.max_workdir_bytes");
        expect(second).toContain("8 MiB");
        // The cleanup ran in the same session, after the stop.
        expect(run.stdout).toMatch(/>>> \[RESULT\][\s\S]*\b0\b/);
      } finally {
        dir.remove();
      }
    },
  );
});
