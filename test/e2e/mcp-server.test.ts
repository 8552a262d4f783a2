// TaskWeaver as an MCP server, driven by the official MCP SDK client: over stdio (the real
// `taskweaver mcp` command) and over Streamable HTTP (`/mcp` of the real API server, with an
// API key). Real kernels, the fake model over HTTP.
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cleanEnvironment,
  createTestAppDir,
  plannerAnswer,
  pythonAnswer,
  REPO_ROOT,
  startFakeOpenAIServer,
  startTestApiServer,
  type FakeOpenAIServer,
  type TestAppDir,
} from "../src/index.js";

const API_KEY = "mcp-test-key-1";

let model: FakeOpenAIServer;
let dir: TestAppDir;

beforeAll(async () => {
  model = await startFakeOpenAIServer();
  dir = createTestAppDir({
    copySample: false,
    config: {
      "llm.api_base": model.url,
      "llm.api_key": "test-key",
      "llm.model": "fake-model",
      "session.roles": ["planner", "code_interpreter"],
      "planner.use_example": false,
      "code_generator.use_example": false,
    },
  });
});
afterAll(async () => {
  await model?.close();
  dir?.remove();
});

function text(result: CallToolResult): string {
  return result.content.flatMap((part) => (part.type === "text" ? [part.text] : [])).join("\n");
}

function sessionIdOf(result: CallToolResult): string {
  return (result.structuredContent as { session_id: string }).session_id;
}

/** What every transport must show, on a connected client. */
function describeServerSuite(transport: string, connect: () => Promise<Client>): void {
  describe(`TaskWeaver as an MCP server over ${transport}`, () => {
    let client: Client;
    beforeAll(async () => {
      client = await connect();
    });
    afterAll(async () => {
      await client?.close();
    });

    it("lists run_task and execute_python with their input schemas", async () => {
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name).sort()).toEqual(["execute_python", "run_task"]);
      const runTask = tools.find((tool) => tool.name === "run_task")!;
      expect(runTask.inputSchema).toMatchObject({ properties: { request: { type: "string" }, session_id: { type: "string" } }, required: ["request"] });
    });

    it("keeps the kernel's state across execute_python calls of the MCP session, with no model", async () => {
      const requests = model.chatRequests.length;
      const first = (await client.callTool({ name: "execute_python", arguments: { code: "answer = 40\nanswer" } })) as CallToolResult;
      expect(first.isError).toBe(false);
      const second = (await client.callTool({ name: "execute_python", arguments: { code: "answer + 2" } })) as CallToolResult;
      expect(second.structuredContent).toMatchObject({ outcome: "ok", output: "42" });
      expect(sessionIdOf(second)).toBe(sessionIdOf(first));
      const failing = (await client.callTool({ name: "execute_python", arguments: { code: "1 / 0" } })) as CallToolResult;
      expect(failing.isError).toBe(true);
      expect(text(failing)).toContain("ZeroDivisionError");
      expect(model.chatRequests.length).toBe(requests);
    });

    it("runs a round with run_task: the answer, the session id, the figure as an image, progress while it runs, and the file as a resource", async () => {
      model.enqueue(
        plannerAnswer("CodeInterpreter", "Plot a line."),
        pythonAnswer("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [2, 4, 8])\nplt.title('growth')"),
        plannerAnswer("User", "The chart of growth is ready."),
      );
      const progress: string[] = [];
      const result = (await client.callTool({ name: "run_task", arguments: { request: "plot growth" } }, undefined, {
        onprogress: (notification) => progress.push(notification.message ?? ""),
      })) as CallToolResult;
      expect(result.isError).toBe(false);
      expect(text(result)).toContain("The chart of growth is ready.");
      const sessionId = sessionIdOf(result);
      expect(text(result)).toContain(`session_id: ${sessionId}`);
      const image = result.content.find((part) => part.type === "image");
      expect(image).toMatchObject({ type: "image", mimeType: "image/png" });
      expect(Buffer.from((image as { data: string }).data, "base64").subarray(1, 4).toString()).toBe("PNG");
      expect(progress.some((message) => message.includes("CodeInterpreter"))).toBe(true);

      const { resources } = await client.listResources();
      const figure = resources.find((resource) => resource.uri.includes(encodeURIComponent(sessionId)) && resource.name.endsWith(".png"));
      expect(figure?.mimeType).toBe("image/png");
      const read = await client.readResource({ uri: figure!.uri });
      expect(Buffer.from((read.contents[0] as { blob: string }).blob, "base64").subarray(1, 4).toString()).toBe("PNG");

      // The same session goes on, with the round's variables.
      const next = (await client.callTool({ name: "execute_python", arguments: { code: "plt.gcf() is not None", session_id: sessionId } })) as CallToolResult;
      expect(next.structuredContent).toMatchObject({ output: "True" });
    });

    it("interrupts the round when the client cancels run_task", async () => {
      model.enqueue(
        plannerAnswer("CodeInterpreter", "Wait a while."),
        pythonAnswer("import time\nopen('started.txt', 'w').close()\nprint('sleeping now', flush=True)\ntime.sleep(60)\nopen('finished.txt', 'w').close()"),
      );
      const controller = new AbortController();
      const call = client.callTool({ name: "run_task", arguments: { request: "wait a minute" } }, undefined, {
        signal: controller.signal,
        onprogress: (notification) => {
          if (notification.message?.includes("sleeping now")) controller.abort();
        },
        timeout: 60_000,
      });
      await expect(call).rejects.toThrow();
      // The session's kernel is free again at once: the sleep was interrupted, not waited for.
      let sessionId: string | undefined;
      const deadline = Date.now() + 10_000;
      while (!sessionId && Date.now() < deadline) {
        const { resources } = await client.listResources();
        const started = resources.find((resource) => resource.name === "started.txt");
        sessionId = started ? decodeURIComponent(started.uri.split("/")[3]!) : undefined;
        if (!sessionId) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(sessionId).toBeDefined();
      const began = Date.now();
      const after = (await client.callTool({
        name: "execute_python",
        arguments: { code: "import os\nos.path.exists('finished.txt')", session_id: sessionId },
      })) as CallToolResult;
      expect(after.structuredContent).toMatchObject({ output: "False" });
      expect(Date.now() - began).toBeLessThan(15_000);
    });

    it("refuses a session_id it did not open", async () => {
      const result = (await client.callTool({ name: "execute_python", arguments: { code: "1", session_id: "session-of-someone-else" } })) as CallToolResult;
      expect(result.isError).toBe(true);
      expect(text(result)).toContain('There is no session "session-of-someone-else" in this MCP session');
    });
  });
}

describeServerSuite("stdio (taskweaver mcp)", async () => {
  const client = new Client({ name: "mcp-test", version: "1.0.0" });
  const environment = cleanEnvironment();
  await client.connect(
    new StdioClientTransport({
      command: join(REPO_ROOT, "node_modules/.bin/tsx"),
      args: [join(REPO_ROOT, "apps/cli/src/cli.tsx"), "mcp", "-p", dir.path],
      env: Object.fromEntries(Object.entries(environment).filter((entry): entry is [string, string] => entry[1] !== undefined)),
      cwd: REPO_ROOT,
      stderr: "ignore",
    }),
    { timeout: 60_000 },
  );
  return client;
});

describe("TaskWeaver as an MCP server over Streamable HTTP", () => {
  let api: Awaited<ReturnType<typeof startTestApiServer>>;
  beforeAll(async () => {
    api = await startTestApiServer(dir.path, { apiKeys: [API_KEY] });
  });
  afterAll(async () => {
    await api?.close();
  });

  const connectWith = async (key: string) => {
    const client = new Client({ name: "mcp-test", version: "1.0.0" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL("/mcp", api.url), { requestInit: { headers: { Authorization: `Bearer ${key}` } } }),
    );
    return client;
  };

  it("refuses a wrong API key, and a request without one", async () => {
    await expect(connectWith("not-the-key")).rejects.toThrow(/401|not valid/);
    const response = await fetch(new URL("/mcp", api.url), {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: {} }),
    });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
  });

  describeServerSuite("Streamable HTTP (/mcp of the API, with a key)", () => connectWith(API_KEY));
});
