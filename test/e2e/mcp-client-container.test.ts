// MCP servers as plugins with the code in a Docker container (network_mode "none", the
// default): the server runs on the host, the call crosses from the container's kernel to the
// host over the kernel's stdin channel. The image is not rebuilt: the kernel-side code is sent
// at kernel start with the rest of the support code.
import { createTaskWeaver, type TaskWeaverApp } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestAppDir, type TestAppDir } from "../src/index.js";
import { dockerTestGate, requireEngine } from "./docker-support.js";
import { describeMcpClientSuite, mcpServersForTests } from "./mcp-support.js";

const engine = await dockerTestGate("mcp-client-container.test.ts");

describe.skipIf(engine.skip)("MCP tools from a container kernel", () => {
  let dir: TestAppDir;
  let app: TaskWeaverApp;

  beforeAll(async () => {
    requireEngine(engine);
    dir = createTestAppDir({
      copySample: false,
      config: {
        "llm.api_key": "unused",
        "llm.model": "unused",
        "session.roles": ["code_interpreter"],
        "execution_service.kernel_mode": "container",
        "execution_service.custom_image": engine.image,
        "mcp.servers": mcpServersForTests(),
      },
    });
    app = await createTaskWeaver({ appDir: dir.path, env: {}, createExecutorFactory });
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    dir?.remove();
  }, 60_000);

  it("runs the kernel in a container without network", async () => {
    const session = await app.createSession({ warmUp: false });
    try {
      const executor = await session.executor();
      expect(executor.info.kind).toBe("container");
      const probe = await executor.execute(
        "import socket\ndef probe():\n    try:\n        socket.create_connection(('1.1.1.1', 53), timeout=2)\n        return 'network'\n    except OSError:\n        return 'no network'\nprobe()",
      );
      expect(probe.output).toBe("'no network'");
    } finally {
      await session.stop();
    }
  }, 120_000);

  describeMcpClientSuite("container kernel", () => app);
});
