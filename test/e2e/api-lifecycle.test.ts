// The API's lifecycle and its refusals over real HTTP: restart on the same database (in-process
// and as a new `serve` process), graceful SIGTERM, and bad input answered with nothing stored.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseServerSentEvents, startApiServer, type ApiServer } from "@taskweaver/api";
import type { Round } from "@taskweaver/core";
import {
  cleanEnvironment,
  createTestAppDir,
  startTestApiServer,
  REPO_ROOT,
  startFakeOpenAIServer,
  type FakeOpenAIServer,
  type TestAppDir,
  plannerRound,
} from "../src/index.js";

/** Kernels start slowly on a busy machine; these tests stop by themselves well before. */
const HEAVY_TEST_TIMEOUT = 180_000;

let model: FakeOpenAIServer;
const appDirs: TestAppDir[] = [];
const servers: ApiServer[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  model = await startFakeOpenAIServer({ chunkSize: 32 });
});
afterAll(async () => {
  await model?.close();
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  for (const server of servers.splice(0)) await server.close(2_000);
  for (const dir of appDirs.splice(0)) dir.remove();
});

function newAppDir(config: Record<string, unknown> = {}): TestAppDir {
  const dir = createTestAppDir({
    config: { "llm.api_base": model.url, "llm.api_key": "test-key", "llm.model": "fake-model", ...config },
  });
  appDirs.push(dir);
  return dir;
}

async function start(
  appDir: string,
  options: { apiKeys?: string[]; configOverrides?: Record<string, unknown> } = {},
) {
  const server = await startTestApiServer(appDir, options);
  servers.push(server);
  return server;
}

function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function expectError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toContain("application/json");
  const body = (await response.json()) as {
    error: { code: string; message: string; details?: { field: string }[] };
  };
  expect(body.error.code).toBe(code);
  return body.error;
}

/** A request whose path is sent exactly as written (fetch would normalise `..`). */
function rawGet(url: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ hostname, port, path, method: "GET" }, (response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on("error", reject);
    request.end();
  });
}

/** Runs `serve.ts` as its own process and resolves with its URL once it listens. */
function serveProcess(args: string[], env: Record<string, string> = {}) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(REPO_ROOT, "apps/api/src/serve.ts"), ...args],
    {
      cwd: REPO_ROOT,
      env: cleanEnvironment({ TASKWEAVER_API_KEYS: "", ...env }),
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${stdout}\n${stderr}`)), 45_000);
    const check = () => {
      const match = /listening on (http:\/\/\S+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on("data", check);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`serve exited:\n${stdout}\n${stderr}`));
    });
  });
  return { child, url, exited, output: () => ({ stdout, stderr }) };
}

describe("persistence across restarts", () => {
  it(
    "finds the session and its rounds after a restart, and continues it with a new kernel in the same directory",
    async () => {
      // Without kernel snapshots: the new kernel starts empty (test/e2e/snapshot-*.test.ts has
      // the restart that brings the variables back).
      const dir = newAppDir({ "execution_service.snapshot_max_bytes": 0 });
      const first = await start(dir.path);
      const id = (
        (await (await fetch(`${first.url}/api/v1/sessions`, { method: "POST" })).json()) as { id: string }
      ).id;
      model.enqueue(
        ...plannerRound(
          "import pathlib\nsecret = 41\npathlib.Path('kept.txt').write_text('kept')\nsecret",
          "It is 41.",
        ),
      );
      const round = (await (
        await postJson(`${first.url}/api/v1/sessions/${id}/messages`, { message: "remember 41" })
      ).json()) as Round;
      expect(round.state).toBe("finished");
      await first.close();

      // The default database file, in WAL mode.
      const databasePath = join(dir.path, "workspace", "taskweaver-api.sqlite");
      expect(first.databasePath).toBe(databasePath);
      // SQLite's header says 2 in bytes 18 and 19 for a database in WAL mode.
      const header = readFileSync(databasePath).subarray(0, 20);
      expect(header.subarray(0, 15).toString()).toBe("SQLite format 3");
      expect([header[18], header[19]]).toEqual([2, 2]);

      const second = await start(dir.path);
      const list = (await (await fetch(`${second.url}/api/v1/sessions`)).json()) as {
        sessions: { id: string; state: string }[];
      };
      expect(list.sessions).toEqual([expect.objectContaining({ id, state: "stopped" })]);
      const detail = (await (await fetch(`${second.url}/api/v1/sessions/${id}`)).json()) as {
        rounds: Round[];
      };
      expect(detail.rounds).toHaveLength(1);
      expect(detail.rounds[0]).toMatchObject({ id: round.id, state: "finished", post_list: round.post_list });
      expect(await (await fetch(`${second.url}/api/v1/sessions/${id}/files/kept.txt`)).text()).toBe("kept");

      const before = model.chatRequests.length;
      model.enqueue(...plannerRound("import os\n(os.path.exists('kept.txt'), 'secret' in dir())"));
      const next = (await (
        await postJson(`${second.url}/api/v1/sessions/${id}/messages`, { message: "still there?" })
      ).json()) as Round;
      expect(next.state).toBe("finished");
      // Same working directory (the file is there), new kernel (the variable is not).
      expect(
        next.post_list[2]!.attachment_list.find((item) => item.type === "execution_result")?.content,
      ).toContain("(True, False)");
      // The model was told, and it still has the earlier round in its history.
      const prompt = JSON.stringify(model.chatRequests[before]!.body);
      expect(prompt).toMatch(/Variables, imports and data loaded in earlier rounds are gone/);
      expect(prompt).toContain("kept.txt");
      expect(prompt).toContain("remember 41");
      const rounds = (
        (await (await fetch(`${second.url}/api/v1/sessions/${id}`)).json()) as { rounds: Round[] }
      ).rounds;
      expect(rounds.map((item) => item.state)).toEqual(["finished", "finished"]);
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "finishes the running round on SIGTERM, exits, and a new serve process finds the history",
    async () => {
      const dir = newAppDir();
      const first = serveProcess(["-p", dir.path, "--port", "0"]);
      const url = await first.url;
      const id = (
        (await (await fetch(`${url}/api/v1/sessions`, { method: "POST" })).json()) as { id: string }
      ).id;
      model.enqueue(
        ...plannerRound("import time\nprint('working', flush=True)\ntime.sleep(1.5)\n'slept'", "Slept well."),
      );
      const streaming = fetch(`${url}/api/v1/sessions/${id}/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream" },
        body: JSON.stringify({ message: "sleep a little" }),
      });
      const response = await streaming;
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let text = "";
      // Signal once the code runs.
      while (!text.includes("working")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended early: ${text}`);
        text += decoder.decode(value, { stream: true });
      }
      first.child.kill("SIGTERM");
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      const events = parseServerSentEvents(text);
      expect(events.at(-1)!.event).toBe("round-end");
      expect(await first.exited).toBe(0);
      expect(first.output().stdout).toContain("SIGTERM: finishing running rounds");
      expect(first.output().stdout).toContain("Stopped.");

      const second = serveProcess(["-p", dir.path, "--port", "0"]);
      const secondUrl = await second.url;
      const detail = (await (await fetch(`${secondUrl}/api/v1/sessions/${id}`)).json()) as {
        rounds: Round[];
      };
      expect(detail.rounds.map((round) => [round.user_query, round.state])).toEqual([
        ["sleep a little", "finished"],
      ]);
      second.child.kill("SIGTERM");
      expect(await second.exited).toBe(0);
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "refuses to listen on a non-loopback address without API keys",
    async () => {
      const dir = newAppDir();
      const child = spawn("pnpm", ["--silent", "serve", "-p", dir.path, "--host", "0.0.0.0", "--port", "0"], {
        cwd: REPO_ROOT,
        env: cleanEnvironment({ TASKWEAVER_API_KEYS: "" }),
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.push(child);
      let stderr = "";
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
      expect(code).toBe(1);
      expect(stderr).toContain("Refusing to listen on 0.0.0.0 without API keys");
      await expect(
        startApiServer({ appDir: dir.path, host: "0.0.0.0", port: 0, env: {}, logRequest: () => {} }),
      ).rejects.toMatchObject({
        code: "config_invalid",
      });
    },
    HEAVY_TEST_TIMEOUT,
  );
});

describe("bad input over HTTP", () => {
  it(
    "answers each bad request with the right status and a JSON error, storing nothing",
    async () => {
      const dir = newAppDir();
      const server = await start(dir.path, {
        apiKeys: ["key-a", "key-b"],
        configOverrides: { "api.max_body_bytes": 2048 },
      });
      const a = { authorization: "Bearer key-a" };
      const b = { authorization: "Bearer key-b" };
      const base = `${server.url}/api/v1`;
      const requestsBefore = model.requests.length;

      await expectError(await fetch(`${base}/sessions`, { method: "POST" }), 401, "unauthorized");
      await expectError(
        await fetch(`${base}/sessions`, { method: "POST", headers: { authorization: "Bearer nope" } }),
        401,
        "unauthorized",
      );
      const created = await fetch(`${base}/sessions`, { method: "POST", headers: a });
      expect(created.status).toBe(201);
      const id = ((await created.json()) as { id: string }).id;
      const messages = `${base}/sessions/${id}/messages`;

      await expectError(await postJson(messages, '{"message": ', a), 400, "invalid_json");
      const wrongType = await expectError(
        await postJson(messages, { message: ["a list"] }, a),
        422,
        "validation_failed",
      );
      expect(wrongType.details?.map((detail) => detail.field)).toEqual(["message"]);
      const unknownField = await expectError(
        await postJson(messages, { message: "hi", role: "admin" }, a),
        422,
        "validation_failed",
      );
      expect(unknownField.message).toContain('"role"');
      await expectError(
        await postJson(messages, { message: "x".repeat(3_000) }, a),
        413,
        "payload_too_large",
      );
      await expectError(
        await postJson(`${base}/sessions/session-nope/messages`, { message: "hi" }, a),
        404,
        "not_found",
      );
      await expectError(await postJson(messages, { message: "hi" }), 401, "unauthorized");
      await expectError(await postJson(messages, { message: "hi" }, b), 404, "not_found");
      await expectError(await fetch(`${base}/sessions/${id}`, { headers: b }), 404, "not_found");
      await expectError(
        await fetch(`${base}/sessions/${id}`, { method: "DELETE", headers: b }),
        404,
        "not_found",
      );
      await expectError(
        await fetch(`${base}/sessions/${id}/interrupt`, { method: "POST", headers: b }),
        404,
        "not_found",
      );
      await expectError(await fetch(`${base}/sessions/${id}/events`, { headers: b }), 404, "not_found");
      expect(await (await fetch(`${base}/sessions`, { headers: b })).json()).toEqual({ sessions: [] });

      const evil = new FormData();
      evil.append("file", new File(["owned"], "../../evil.csv"));
      await expectError(
        await fetch(`${base}/sessions/${id}/files`, { method: "POST", body: evil, headers: a }),
        400,
        "invalid_file_name",
      );
      const others = new FormData();
      others.append("file", new File(["x"], "theirs.csv"));
      await expectError(
        await fetch(`${base}/sessions/${id}/files`, { method: "POST", body: others, headers: b }),
        404,
        "not_found",
      );

      // Path traversal sent raw (a client would normalise `..`): the server resolves the dot
      // segments before routing, so it asks for /etc/passwd, which is no route.
      const traversal = await rawGet(
        server.url,
        `/api/v1/sessions/${id}/files/../../../../../../../etc/passwd`,
      );
      expect(traversal.status).toBe(404);
      expect(JSON.parse(traversal.body)).toMatchObject({ error: { code: "not_found" } });
      expect(traversal.body).not.toContain("root:");
      // Encoded, the dots reach the file route, which refuses them.
      await expectError(
        await fetch(`${base}/sessions/${id}/files/..%2F..%2F..%2Ftaskweaver_config.json`, { headers: a }),
        400,
        "path_outside_workdir",
      );

      // Nothing was stored and the model was never called.
      const detail = (await (await fetch(`${base}/sessions/${id}`, { headers: a })).json()) as {
        rounds: unknown[];
      };
      expect(detail.rounds).toEqual([]);
      expect(await (await fetch(`${base}/sessions/${id}/events`, { headers: a })).json()).toEqual({
        events: [],
      });
      expect(await (await fetch(`${base}/sessions/${id}/files`, { headers: a })).json()).toEqual({
        files: [],
      });
      expect(readdirSync(join(dir.path, "workspace", "sessions"))).toEqual([id]);
      expect(existsSync(join(dir.path, "workspace", "evil.csv"))).toBe(false);
      expect(model.requests.length).toBe(requestsBefore);

      // Health and the reference stay reachable without a key.
      expect((await fetch(`${base}/health`)).status).toBe(200);
      const docs = await fetch(`${base}/docs`);
      expect(docs.headers.get("content-type")).toContain("text/html");
      expect(await docs.text()).toContain("TaskWeaver API");
    },
    HEAVY_TEST_TIMEOUT,
  );
});
