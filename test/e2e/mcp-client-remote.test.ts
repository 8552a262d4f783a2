// MCP servers as plugins with the code on a real `jupyter server` (remote runtime): the call
// goes from the remote kernel to the host over the kernel's stdin channel, relayed by the
// server's channels WebSocket; the kernel never connects to the host or the MCP server.
import { createTaskWeaver, type TaskWeaverApp } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRemoteExecutorFactory } from "../../packages/executor/src/remote/index.js";
import { jupyterServerUnavailableReason, startJupyterServer, type JupyterServer } from "../src/jupyter-server.js";
import { createTestAppDir, type TestAppDir } from "../src/index.js";
import { describeMcpClientSuite, mcpServersForTests } from "./mcp-support.js";

const unavailableReason = jupyterServerUnavailableReason();

describe.runIf(unavailableReason === undefined || process.env.CI === "true")("MCP tools from a remote kernel", () => {
  let jupyter: JupyterServer;
  let dir: TestAppDir;
  let app: TaskWeaverApp;

  beforeAll(async () => {
    if (unavailableReason !== undefined) throw new Error(`jupyter server cannot run here: ${unavailableReason}`);
    jupyter = await startJupyterServer();
    dir = createTestAppDir({
      copySample: false,
      config: {
        "llm.api_key": "unused",
        "llm.model": "unused",
        "session.roles": ["code_interpreter"],
        "execution_service.kernel_mode": "remote",
        "execution_service.remote.url": jupyter.url,
        "mcp.servers": mcpServersForTests(),
      },
    });
    app = await createTaskWeaver({
      appDir: dir.path,
      env: { EXECUTION_SERVICE_REMOTE_TOKEN: jupyter.token },
      createExecutorFactory: (config) =>
        createExecutorFactory(config, { runtimes: { remote: (appConfig) => createRemoteExecutorFactory(appConfig, { env: {} }) } }),
    });
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await jupyter?.close();
    dir?.remove();
  }, 30_000);

  it("runs the kernel on the Jupyter server", async () => {
    const session = await app.createSession({ warmUp: false });
    try {
      expect((await session.executor()).info.kind).toBe("remote");
    } finally {
      await session.stop();
    }
  });

  describeMcpClientSuite("remote kernel", () => app);
});
