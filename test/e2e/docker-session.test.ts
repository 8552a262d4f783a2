// A whole TaskWeaver session whose code runs in a Docker container: the app picks the container
// runtime from `execution_service.kernel_mode`, the uploaded file reaches the kernel through the
// bind-mounted working directory, and closing the app removes the container.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createTaskWeaver, type TaskWeaverEvent } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestAppDir, pythonAnswer, startFakeOpenAIServer, type FakeOpenAIServer } from "../src/index.js";
import { dockerTestGate, requireEngine } from "./docker-support.js";

const engine = await dockerTestGate("docker-session.test.ts");

describe.skipIf(engine.skip)("a session on the container runtime", () => {
  let server: FakeOpenAIServer;
  beforeAll(async () => {
    requireEngine(engine);
    server = await startFakeOpenAIServer({ chunkSize: 40 });
  });
  afterAll(async () => {
    await server?.close();
  });

  /** An app in code-interpreter-only mode on the container runtime, its model the fake server. */
  async function openContainerApp(extraConfig: Record<string, unknown> = {}) {
    const dir = createTestAppDir({
      config: {
        "llm.api_base": server.url,
        "llm.api_key": "k",
        "llm.model": "fake-model",
        "session.roles": ["code_interpreter"],
        "execution_service.kernel_mode": "container",
        "execution_service.custom_image": engine.image,
        "execution_service.docker.host": requireEngine(engine).endpoint.description,
        ...extraConfig,
      },
    });
    const app = await createTaskWeaver({ appDir: dir.path, env: {}, createExecutorFactory });
    return { dir, app };
  }

  it("runs the model's code in the container and leaves its files in the session's directory", async () => {
    const client = requireEngine(engine);
    const { dir, app } = await openContainerApp();
    const code =
      "import os, pandas as pd\nframe = pd.read_csv('prices.csv')\nframe['total'] = frame.price * frame.quantity\n" +
      "frame.to_csv('totals.csv', index=False)\nprint('uid', os.getuid())\nint(frame.total.sum())";
    server.enqueue(pythonAnswer(code, "Sum the totals."));
    try {
      const session = await app.createSession({ warmUp: false });
      const events: TaskWeaverEvent[] = [];
      const round = await session.sendMessage("total the prices", {
        onEvent: (event) => events.push(event),
        files: [{ name: "prices.csv", data: new TextEncoder().encode("price,quantity\n2,3\n5,4\n") }],
      });
      expect(round.state, JSON.stringify(events.filter((event) => event.type === "round-error"))).toBe("finished");
      const transcript = JSON.stringify(round);
      expect(transcript).toContain("uid 10001");
      expect(transcript).toContain("26");
      expect(readFileSync(join(session.workingDirectory, "totals.csv"), "utf8")).toBe("price,quantity,total\n2,3,6\n5,4,20\n");
      const running = await client.listContainers(["io.taskweaver.managed=true", `io.taskweaver.session-id=${session.id}`]);
      expect(running).toHaveLength(1);
      await app.close();
      expect(await client.listContainers([`io.taskweaver.session-id=${session.id}`])).toHaveLength(0);
    } finally {
      await app.close();
      dir.remove();
    }
  }, 180_000);

  it("takes its container from the warm pool, and closing the app removes the pooled ones", async () => {
    const client = requireEngine(engine);
    const { dir, app } = await openContainerApp({ "execution_service.warm_pool_size": 1 });
    const ours = [`io.taskweaver.host-pid=${process.pid}`, "io.taskweaver.session-id=warm-pool"];
    server.enqueue(pythonAnswer("open('note.txt', 'w').write('pooled')", "Write a note."));
    try {
      const session = await app.createSession({ warmUp: false });
      const round = await session.sendMessage("write a note");
      expect(round.state).toBe("finished");
      expect(readFileSync(join(session.workingDirectory, "note.txt"), "utf8")).toBe("pooled");
      const executor = await session.executor();
      await expect.poll(() => executor.info.details.containerName).toMatch(new RegExp(`^taskweaver-${session.id}-`));
      // The session's container and the pool's replacement.
      expect((await client.listContainers(ours)).length).toBeGreaterThanOrEqual(1);
      await app.close();
      expect(await client.listContainers(ours)).toEqual([]);
      expect(readdirSync(join(dir.path, "workspace", "sessions", ".warm-pool"))).toEqual([]);
      expect(readFileSync(join(session.workingDirectory, "note.txt"), "utf8")).toBe("pooled");
    } finally {
      await app.close();
      dir.remove();
    }
  }, 180_000);
});
