// MCP tools in the roles: plugin signatures in the CodeInterpreter's prompt, function-calling
// tools in code_interpreter_plugin_only mode, and servers stopped with the session. Real
// server-everything, real local kernel, the real OpenAI client against the fake model.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createTaskWeaver, findAttachment, type TaskWeaverApp } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestAppDir, pythonAnswer, startFakeOpenAIServer, type FakeOpenAIServer, type TestAppDir } from "../src/index.js";
import { EVERYTHING_SERVER_SCRIPT, mcpServersForTests } from "./mcp-support.js";

let model: FakeOpenAIServer;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  model = await startFakeOpenAIServer();
});
afterAll(async () => {
  await model.close();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function open(config: Record<string, unknown>, server: FakeOpenAIServer = model): Promise<TaskWeaverApp> {
  const dir: TestAppDir = createTestAppDir({
    copySample: false,
    config: { "llm.api_base": server.url, "llm.api_key": "test-key", "llm.model": "fake-model", "mcp.servers": mcpServersForTests(), ...config },
  });
  cleanups.push(() => dir.remove());
  // The plugin selector keeps its embeddings beside the app's plugins.
  mkdirSync(join(dir.path, "plugins"), { recursive: true });
  const app = await createTaskWeaver({ appDir: dir.path, createExecutorFactory, env: {} });
  cleanups.push(() => app.close());
  return app;
}

/** Process ids of running server-everything children of this process. */
function everythingServers(): string[] {
  const lines = execFileSync("ps", ["-o", "pid=,ppid=,args=", "-e"], { encoding: "utf8" }).split("\n");
  return lines.filter((line) => line.includes(EVERYTHING_SERVER_SCRIPT) && line.trim().split(/\s+/)[1] === String(process.pid)).map((line) => line.trim().split(/\s+/)[0]!);
}

describe("MCP tools in the CodeInterpreter", () => {
  it("shows each tool as a plugin signature of the server's object, and the generated code calls it", async () => {
    const app = await open({ "session.roles": ["code_interpreter"] });
    const session = await app.createSession();
    const before = model.chatRequests.length;
    model.enqueue(pythonAnswer("total = everything.get_sum(a=20, b=22)\ntotal"));
    const round = await session.sendMessage("add 20 and 22 with the MCP tool");
    expect(round.state).toBe("finished");
    const report = round.post_list.at(-1)!;
    expect(findAttachment(report, "execution_status")?.content).toBe("SUCCESS");
    expect(findAttachment(report, "execution_result")?.content).toContain("The sum of 20 and 22 is 42.");
    const prompt = JSON.stringify(model.chatRequests[before]!.body);
    expect(prompt).toContain("def everything.get_sum(a: float, b: float) -> str:");
    expect(prompt).toContain('Tool \\"get-sum\\" of the MCP server \\"everything\\"');
    expect(prompt).toContain("def everything.get_structured_content(location: str) -> dict:");
    // The broken server's tools are not offered; the session said why.
    expect(prompt).not.toContain("broken");
    expect(session.plugins.find((status) => status.name === "broken-server")?.loaded).toBe(false);
  });

  it("stops the session's servers with the session", async () => {
    const app = await open({ "session.roles": ["code_interpreter"] });
    const running = everythingServers().length;
    const session = await app.createSession({ warmUp: false });
    expect(everythingServers().length).toBe(running + 1);
    await session.stop();
    const deadline = Date.now() + 5_000;
    while (everythingServers().length > running && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(everythingServers().length).toBe(running);
  });
});

describe("MCP tools in plugin selection", () => {
  it("offers only the tools most similar to the request when auto plugin selection is on", async () => {
    // Two-word embedding: "sum" and "echo"; everything else is orthogonal to both.
    const embedding = await startFakeOpenAIServer({
      embed: (input) => [input.includes("sum") ? 1 : 0, input.includes("echo") ? 1 : 0, 0.01],
    });
    cleanups.push(() => embedding.close());
    const app = await open(
      { "session.roles": ["code_interpreter"], "code_generator.enable_auto_plugin_selection": true, "code_generator.auto_plugin_selection_topk": 1, "llm.embedding_model": "fake-embedding" },
      embedding,
    );
    const session = await app.createSession();
    embedding.enqueue(pythonAnswer("everything.get_sum(a=1, b=2)"));
    const round = await session.sendMessage("please sum 1 and 2");
    expect(findAttachment(round.post_list.at(-1)!, "execution_status")?.content).toBe("SUCCESS");
    const prompt = JSON.stringify(embedding.chatRequests.at(-1)!.body);
    expect(prompt).toContain("def everything.get_sum(");
    expect(prompt).not.toContain("def everything.echo(");
  });
});

describe("MCP tools in code_interpreter_plugin_only mode", () => {
  it("offers each tool as a function-calling tool with its input schema and runs the call in the kernel", async () => {
    const app = await open({ "session.roles": ["code_interpreter_plugin_only"] });
    const session = await app.createSession();
    const before = model.chatRequests.length;
    model.enqueue({ toolCalls: [{ name: "everything__echo", arguments: { message: "via function calling" } }] });
    const round = await session.sendMessage("echo something");
    const post = round.post_list.at(-1)!;
    expect(findAttachment(post, "execution_status")?.content).toBe("SUCCESS");
    expect(post.message).toContain("Echo: via function calling");
    const tools = (model.chatRequests[before]!.body as { tools: { function: { name: string; parameters: unknown } }[] }).tools;
    const echo = tools.find((tool) => tool.function.name === "everything__echo");
    expect(echo?.function.parameters).toMatchObject({ type: "object", properties: { message: { type: "string" } }, required: ["message"] });
    expect(tools.map((tool) => tool.function.name)).toContain("everything__get_sum");
  });
});
