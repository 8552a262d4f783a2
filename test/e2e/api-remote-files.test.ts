// The HTTP API with remote kernels (a real `jupyter server` on 127.0.0.1): the files a round's
// code writes live on the server, and the API lists and serves them through the session's
// executor; uploads not yet handed to a round are served from this host.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ApiServer } from "@taskweaver/api";
import type { Round } from "@taskweaver/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createTestAppDir,
  plannerRound,
  startFakeOpenAIServer,
  startTestApiServer,
  type FakeOpenAIServer,
  type TestAppDir,
} from "../src/index.js";
import { jupyterServerUnavailableReason, startJupyterServer, type JupyterServer } from "../src/jupyter-server.js";

const unavailableReason = jupyterServerUnavailableReason();
const runOrFail = unavailableReason === undefined || process.env.CI === "true";

let model: FakeOpenAIServer;
let jupyter: JupyterServer | undefined;
let appDir: TestAppDir;
let server: ApiServer;

beforeAll(async () => {
  if (!runOrFail) return;
  if (unavailableReason !== undefined) throw new Error(`These tests need jupyter server: ${unavailableReason}`);
  model = await startFakeOpenAIServer({ chunkSize: 32 });
  jupyter = await startJupyterServer();
  appDir = createTestAppDir({
    config: { "llm.api_base": model.url, "llm.api_key": "test-key", "llm.model": "fake-model" },
  });
  server = await startTestApiServer(appDir.path, {
    configOverrides: {
      "execution_service.kernel_mode": "remote",
      "execution_service.remote.url": jupyter.url,
      "execution_service.remote.token": jupyter.token,
    },
  });
}, 90_000);

afterAll(async () => {
  await server?.close(5_000);
  await jupyter?.close();
  await model?.close();
  appDir?.remove();
}, 60_000);

const api = (path: string) => `${server.url}/api/v1${path}`;

async function upload(id: string, name: string, text: string): Promise<void> {
  const form = new FormData();
  form.append("file", new File([text], name, { type: "text/plain" }));
  const response = await fetch(api(`/sessions/${id}/files`), { method: "POST", body: form });
  expect(response.status).toBe(201);
}

describe.skipIf(!runOrFail)("API files with remote kernels", () => {
  it(
    "lists and downloads what the code wrote on the server, next to uploads still on this host",
    async () => {
      const created = await fetch(api("/sessions"), { method: "POST" });
      const { id } = (await created.json()) as { id: string };
      await upload(id, "visits.csv", "city,visitors\nOslo,3\nLima,5\n");

      model.enqueue(
        ...plannerRound(
          [
            "import pandas as pd, matplotlib.pyplot as plt",
            "frame = pd.read_csv('visits.csv')",
            "frame.assign(double=frame.visitors * 2).to_csv('summary.csv', index=False)",
            "plt.bar(frame.city, frame.visitors)",
            "plt.savefig('chart.png')",
            "int(frame.visitors.sum())",
          ].join("\n"),
          "8 visitors.",
        ),
      );
      const response = await fetch(api(`/sessions/${id}/messages`), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ message: "sum the visitors", files: ["visits.csv"] }),
      });
      const round = (await response.json()) as Round;
      expect(round.state).toBe("finished");

      // Uploaded after the round: only on this host until a message hands it over.
      await upload(id, "later.txt", "not attached yet");

      const listed = (await (await fetch(api(`/sessions/${id}/files`))).json()) as {
        files: { name: string; size: number }[];
      };
      const names = listed.files.map((file) => file.name);
      expect(names).toEqual(expect.arrayContaining(["visits.csv", "summary.csv", "chart.png", "later.txt"]));

      const summary = await fetch(api(`/sessions/${id}/files/summary.csv`));
      expect(summary.status).toBe(200);
      expect(summary.headers.get("content-type")).toBe("text/csv; charset=utf-8");
      expect(await summary.text()).toBe("city,visitors,double\nOslo,3,6\nLima,5,10\n");
      const chart = new Uint8Array(await (await fetch(api(`/sessions/${id}/files/chart.png`))).arrayBuffer());
      expect([...chart.slice(1, 4)]).toEqual([80, 78, 71]);
      expect(await (await fetch(api(`/sessions/${id}/files/later.txt`))).text()).toBe("not attached yet");
      expect((await fetch(api(`/sessions/${id}/files/missing.txt`))).status).toBe(404);
      expect((await fetch(api(`/sessions/${id}/files/..%2F..%2Fetc%2Fpasswd`))).status).toBe(400);

      // The code's files are on the server, not in the host's working directory.
      const hostDirectory = join(appDir.path, "workspace", "sessions", id, "cwd");
      expect(existsSync(join(hostDirectory, "summary.csv"))).toBe(false);
      expect(existsSync(join(jupyter!.rootDir, "taskweaver", id, "summary.csv"))).toBe(true);
    },
    180_000,
  );
});
