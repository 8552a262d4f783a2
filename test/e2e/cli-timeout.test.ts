// A runaway loop never hangs a session: the CLI reports the timeout, and the next round works
// with the variables made before it.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestAppDir, runCli, startFakeOpenAIServer, type FakeOpenAIServer } from "../src/index.js";

let server: FakeOpenAIServer;
beforeAll(async () => {
  server = await startFakeOpenAIServer();
});
afterAll(async () => {
  await server.close();
});

const python = (code: string) => JSON.stringify({ response: { thought: "Run it.", reply_type: "python", reply_content: code } });

it("stops `while True: pass` at a 2-second timeout and keeps earlier variables for the next round", async () => {
  const dir = createTestAppDir({
    config: {
      "llm.api_base": server.url,
      "llm.api_key": "k",
      "llm.model": "fake-model",
      "session.roles": ["code_interpreter"],
      "code_interpreter.max_retry_count": 0,
    },
  });
  try {
    server.enqueue(python("kept = 7\nkept"), python("while True: pass"), python("kept + 1"));
    const started = Date.now();
    const run = await runCli(["-p", dir.path, "--config", "execution_service.execution_timeout=2"], {
      input: ["remember seven", "loop forever", "add one"],
      timeoutMs: 120_000,
    });
    const out = run.stdout;
    expect(run.exitCode, out + run.stderr).toBe(0);
    const rounds = out.split(/^Human: /m).slice(1);
    expect(rounds).toHaveLength(3);
    expect(rounds[1]).toMatch(/>>> \[STATUS\]\s*\n\s*FAILURE/);
    expect(rounds[1]).toContain("stopped because it ran past the execution time limit");
    expect(rounds[1]).toMatch(/TaskWeaver: [\s\S]*ran out of retries/);
    expect(rounds[2]).toMatch(/>>> \[STATUS\]\s*\n\s*SUCCESS/);
    expect(rounds[2]).toMatch(/Displayed value:\s*\n\s*8/);
    // Three rounds, kernel start included, well within the time a hang would take.
    expect(Date.now() - started).toBeLessThan(100_000);
  } finally {
    dir.remove();
  }
});
