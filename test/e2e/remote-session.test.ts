// A whole TaskWeaver session whose code runs on a real `jupyter server`: the app picks the
// remote runtime from `execution_service.kernel_mode`, the attached file reaches the server's
// per-session folder, the model's code runs there, and closing the app deletes the kernel.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createTaskWeaver, type TaskWeaverEvent } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// The remote runtime is not registered in the package's runtime table yet (see the remote runtime's report).
import { createRemoteExecutorFactory } from "../../packages/executor/src/remote/index.js";
import {
  jupyterServerUnavailableReason,
  startJupyterServer,
  type JupyterServer,
} from "../src/jupyter-server.js";
import { createTestAppDir, startFakeOpenAIServer, type FakeOpenAIServer } from "../src/index.js";

const unavailableReason = jupyterServerUnavailableReason();

describe.runIf(unavailableReason === undefined || process.env.CI === "true")(
  "a session on the remote runtime",
  () => {
    let model: FakeOpenAIServer;
    let jupyter: JupyterServer;
    beforeAll(async () => {
      if (unavailableReason !== undefined)
        throw new Error(`jupyter server cannot run here: ${unavailableReason}`);
      [model, jupyter] = await Promise.all([startFakeOpenAIServer({ chunkSize: 40 }), startJupyterServer()]);
    }, 60_000);
    afterAll(async () => {
      await Promise.all([model?.close(), jupyter?.close()]);
    }, 30_000);

    async function kernelCount(): Promise<number> {
      const response = await fetch(`${jupyter.url}api/kernels`, {
        headers: { Authorization: `token ${jupyter.token}` },
      });
      return ((await response.json()) as unknown[]).length;
    }

    it("runs the model's code on the server, with the attached file, and deletes the kernel on close", async () => {
      const dir = createTestAppDir({
        config: {
          "llm.api_base": model.url,
          "llm.api_key": "k",
          "llm.model": "fake-model",
          "session.roles": ["code_interpreter"],
          "execution_service.kernel_mode": "remote",
          "execution_service.remote.url": jupyter.url,
        },
      });
      const code =
        "import os, pandas as pd\nframe = pd.read_csv('prices.csv')\nframe['total'] = frame.price * frame.quantity\n" +
        "frame.to_csv('totals.csv', index=False)\nprint('cwd', os.getcwd())\nint(frame.total.sum())";
      model.enqueue(
        JSON.stringify({
          response: { thought: "Sum the totals.", reply_type: "python", reply_content: code },
        }),
      );
      const app = await createTaskWeaver({
        appDir: dir.path,
        env: { EXECUTION_SERVICE_REMOTE_TOKEN: jupyter.token },
        createExecutorFactory: (config) =>
          createExecutorFactory(config, {
            runtimes: { remote: (appConfig) => createRemoteExecutorFactory(appConfig, { env: {} }) },
          }),
      });
      try {
        const session = await app.createSession({ warmUp: false });
        const events: TaskWeaverEvent[] = [];
        const round = await session.sendMessage("total the prices", {
          onEvent: (event) => events.push(event),
          files: [{ name: "prices.csv", data: new TextEncoder().encode("price,quantity\n2,3\n5,4\n") }],
        });
        expect(round.state, JSON.stringify(events.filter((event) => event.type === "round-error"))).toBe(
          "finished",
        );
        const serverFolder = join(jupyter.rootDir, "taskweaver", session.id);
        const transcript = JSON.stringify(round);
        expect(transcript).toContain(`cwd ${serverFolder}`);
        expect(transcript).toContain("26");
        expect(readFileSync(join(serverFolder, "prices.csv"), "utf8")).toBe("price,quantity\n2,3\n5,4\n");
        expect(readFileSync(join(serverFolder, "totals.csv"), "utf8")).toBe(
          "price,quantity,total\n2,3,6\n5,4,20\n",
        );
        expect(await kernelCount()).toBe(1);
        await app.close();
        expect(await kernelCount()).toBe(0);
      } finally {
        await app.close();
        dir.remove();
      }
    }, 180_000);
  },
);
