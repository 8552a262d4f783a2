// MCP servers as plugins, end to end on local kernels: a real third-party MCP server
// (server-everything over stdio), a real kernel, sandboxed (bubblewrap, no network) and
// forked from the template, with the call going from Python to the host over the kernel's
// stdin channel and back.
import { createTaskWeaver, type TaskWeaverApp } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestAppDir, type TestAppDir } from "../src/index.js";
import { describeMcpClientSuite, mcpServersForTests } from "./mcp-support.js";

const runtimes = {
  "local kernel in the bubblewrap sandbox": { "execution_service.local.sandbox": "bwrap" },
  "local kernel forked without a sandbox": { "execution_service.local.sandbox": "none", "execution_service.kernel_start": "fork" },
};

for (const [runtime, settings] of Object.entries(runtimes)) {
  describe(runtime, () => {
    let dir: TestAppDir;
    let app: TaskWeaverApp;

    beforeAll(async () => {
      dir = createTestAppDir({
        copySample: false,
        config: {
          "llm.api_key": "unused",
          "llm.model": "unused",
          "session.roles": ["code_interpreter"],
          "mcp.servers": mcpServersForTests(),
          ...settings,
        },
      });
      app = await createTaskWeaver({ appDir: dir.path, createExecutorFactory, env: {} });
    });
    afterAll(async () => {
      await app?.close();
      dir?.remove();
    });

    it("runs the kernel as configured", async () => {
      const session = await app.createSession({ warmUp: false });
      try {
        const details = (await session.executor()).info.details;
        expect(details["sandbox"]).toBe(settings["execution_service.local.sandbox"] === "bwrap" ? "bwrap" : undefined);
      } finally {
        await session.stop();
      }
    });

    describeMcpClientSuite(runtime, () => app);
  });
}
