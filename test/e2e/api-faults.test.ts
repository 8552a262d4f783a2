// Faults under the API's session store, over real HTTP against `serve` processes with a real
// local kernel and the fake model: `kill -9` of the server in the middle of a round (SQLite and
// PostgreSQL), then a restart on the same database, and a PostgreSQL table locked by another
// connection. What the API answered before the fault must be what it answers after; callers get
// a 503 naming the cause while it lasts; the API works again once it goes.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import pg from "pg";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  createTestAppDir,
  plannerRound,
  startFakeOpenAIServer,
  type FakeOpenAIServer,
  type TestAppDir,
} from "../src/index.js";
import {
  createTestDatabaseSchema,
  startApiProcess,
  testDatabaseUnavailableReason,
  type ApiProcess,
  type TestDatabaseSchema,
} from "../src/api-process.js";

const CI = process.env.CI === "true";
const databaseUnavailable = await testDatabaseUnavailableReason();
/** `api.instance_lost_timeout` of the servers, in seconds: the killed server's lease lapses quickly. */
const LOST_TIMEOUT_S = 2;
const HEAVY_TEST_TIMEOUT = 180_000;

let model: FakeOpenAIServer;
const appDirs: TestAppDir[] = [];
const processes: ApiProcess[] = [];
const schemas: TestDatabaseSchema[] = [];

// A model of its own per test: a killed round leaves no scripted answer to the next test.
beforeEach(async () => {
  model = await startFakeOpenAIServer({ chunkSize: 64 });
});
afterEach(async () => {
  await model?.close();
  await Promise.all(processes.splice(0).map((process) => process.stop()));
  for (const schema of schemas.splice(0)) await schema.drop();
  for (const dir of appDirs.splice(0)) dir.remove();
});

function newAppDir(): TestAppDir {
  const dir = createTestAppDir({
    config: {
      "llm.api_base": model.url,
      "llm.api_key": "test-key",
      "llm.model": "fake-model",
      "execution_service.local.sandbox": "none",
    },
  });
  appDirs.push(dir);
  return dir;
}

async function start(appDir: TestAppDir, store: Record<string, string>, env: Record<string, string> = {}) {
  const server = await startApiProcess({
    appDir: appDir.path,
    env,
    config: { ...store, "api.instance_lost_timeout": LOST_TIMEOUT_S, "api.shutdown_grace_period": 2 },
    startTimeoutMs: 120_000,
  });
  processes.push(server);
  return server;
}

const api = (server: ApiProcess) => `${server.url}/api/v1`;

async function createSession(server: ApiProcess): Promise<string> {
  const response = await fetch(`${api(server)}/sessions`, { method: "POST" });
  expect(response.status, await response.clone().text()).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

function sendMessage(server: ApiProcess, sessionId: string, message: string): Promise<Response> {
  return fetch(`${api(server)}/sessions/${sessionId}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message }),
  });
}

interface RoundView {
  id: string;
  state: string;
  error?: { code: string } | null;
}

async function readSession(server: ApiProcess, sessionId: string) {
  const session = await fetch(`${api(server)}/sessions/${sessionId}`);
  expect(session.status).toBe(200);
  const events = await fetch(`${api(server)}/sessions/${sessionId}/events`);
  expect(events.status).toBe(200);
  return {
    rounds: ((await session.json()) as { rounds: RoundView[] }).rounds,
    events: ((await events.json()) as { events: { id: number; event: { type: string; roundId?: string } }[] })
      .events,
  };
}

/** Waits until the model has handed out the third round's code, then a little more so it runs. */
async function waitForThirdRoundCode(): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (model.pendingResponses > 0) {
    if (Date.now() > deadline) throw new Error("the third round's code was not asked for");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await new Promise((resolve) => setTimeout(resolve, 1_500));
}

/**
 * Two rounds finished, a third killed with the server while its code runs, a restart on the
 * same database: the finished rounds and their events are as the API gave them before, the cut
 * round is failed (instance_lost or server_restarted), and the next round runs.
 */
async function killInTheMiddle(
  appDir: TestAppDir,
  store: Record<string, string>,
  env: Record<string, string> = {},
) {
  const server = await start(appDir, store, env);
  const sessionId = await createSession(server);
  for (const value of [1, 2]) {
    model.enqueue(...plannerRound(`x = ${value}\nprint("x is", x)`));
    const response = await sendMessage(server, sessionId, `round ${value}`);
    expect(response.status, await response.clone().text()).toBe(200);
    expect(((await response.json()) as RoundView).state).toBe("finished");
  }
  const before = await readSession(server, sessionId);
  expect(before.rounds.map((round) => round.state)).toEqual(["finished", "finished"]);

  // The planner's hand-over and the code; the planner's closing answer is never asked for.
  model.enqueue(...plannerRound('import time\ntime.sleep(60)\nprint("never")').slice(0, 2));
  const cut = sendMessage(server, sessionId, "round 3").then(
    async (response) => `answered ${response.status}: ${await response.text()}`,
    (error: unknown) => `no answer (${String((error as Error).cause ?? error)})`,
  );
  await waitForThirdRoundCode();
  await server.kill();
  expect(await cut).toMatch(/^no answer/);

  const restarted = await start(appDir, store, env);
  // The killed server's round lease lapses after LOST_TIMEOUT_S; then its round is failed.
  const deadline = Date.now() + 30_000;
  let after = await readSession(restarted, sessionId);
  // Until then the cut round is stored as it was left: created or running.
  while ((after.rounds[2]?.state === "running" || after.rounds[2]?.state === "created") && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    after = await readSession(restarted, sessionId);
  }
  expect(after.rounds.slice(0, 2)).toEqual(before.rounds);
  expect(after.events.slice(0, before.events.length)).toEqual(before.events);
  expect(after.rounds).toHaveLength(3);
  expect(after.rounds[2]!.state).toBe("failed");
  expect(["instance_lost", "server_restarted"]).toContain(after.rounds[2]!.error?.code);

  model.enqueue(...plannerRound('print("after the restart")'));
  const next = await sendMessage(restarted, sessionId, "round 4");
  expect(next.status, await next.clone().text()).toBe(200);
  expect(((await next.json()) as RoundView).state).toBe("finished");
  expect(model.pendingResponses).toBe(0);
  return { server: restarted, sessionId };
}

describe("API faults", () => {
  it(
    "SQLite: kill -9 in the middle of a round keeps every finished round and its events, and the file stays sound",
    async () => {
      const appDir = newAppDir();
      const path = join(appDir.path, "workspace", "faults.sqlite");
      const { server } = await killInTheMiddle(appDir, { "api.database_path": path });
      await server.stop();
      // Python's sqlite3, another SQLite than the server's, reads the file.
      const check = spawnSync(
        "python3",
        [
          "-c",
          "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nprint(c.execute('PRAGMA integrity_check').fetchone()[0], len(c.execute('PRAGMA foreign_key_check').fetchall()))",
          path,
        ],
        { encoding: "utf8" },
      );
      expect(check.stdout.trim(), check.stderr).toBe("ok 0");
    },
    HEAVY_TEST_TIMEOUT,
  );

  describe.runIf(databaseUnavailable === undefined || CI)("PostgreSQL", () => {
    beforeAll(() => {
      if (databaseUnavailable !== undefined)
        throw new Error(`These tests need PostgreSQL: ${databaseUnavailable}`);
    });

    function newSchema(): TestDatabaseSchema {
      const schema = createTestDatabaseSchema("api_faults_e2e");
      schemas.push(schema);
      return schema;
    }

    it(
      "kill -9 in the middle of a round keeps every finished round and its events",
      async () => {
        const schema = newSchema();
        await killInTheMiddle(
          newAppDir(),
          { "api.database_schema": schema.schema },
          { API_DATABASE_URL: schema.url },
        );
      },
      HEAVY_TEST_TIMEOUT,
    );

    it(
      "a table locked by another connection answers 503 store_unavailable naming the lock, and the API recovers",
      async () => {
        const schema = newSchema();
        const appDir = newAppDir();
        const server = await start(
          appDir,
          { "api.database_schema": schema.schema },
          { API_DATABASE_URL: schema.url },
        );
        const sessionId = await createSession(server);
        model.enqueue(...plannerRound('print("before the lock")'));
        expect((await sendMessage(server, sessionId, "before")).status).toBe(200);
        const before = await readSession(server, sessionId);

        const holder = new pg.Client({ connectionString: schema.url });
        await holder.connect();
        try {
          await holder.query("BEGIN");
          await holder.query(`LOCK TABLE "${schema.schema}".sessions IN ACCESS EXCLUSIVE MODE`);
          const started = Date.now();
          const refused = await fetch(`${api(server)}/sessions`, { method: "POST" });
          const waitedMs = Date.now() - started;
          const body = (await refused.json()) as { error: { code: string; message: string } };
          expect(refused.status, JSON.stringify(body)).toBe(503);
          expect(refused.headers.get("retry-after")).toBe("5");
          expect(body.error.code).toBe("store_unavailable");
          expect(body.error.message).toMatch(/a lock held by another connection did not come free/);
          expect(body.error.message).not.toContain(new URL(schema.url).password);
          // The pool's lock_timeout (5 s), not the lock's length, bounds the wait.
          expect(waitedMs).toBeGreaterThanOrEqual(4_000);
          expect(waitedMs).toBeLessThan(15_000);
        } finally {
          await holder.query("ROLLBACK").catch(() => undefined);
          await holder.end();
        }

        expect((await fetch(`${api(server)}/sessions`, { method: "POST" })).status).toBe(201);
        model.enqueue(...plannerRound('print("after the lock")'));
        const after = await sendMessage(server, sessionId, "after");
        expect(after.status, await after.clone().text()).toBe(200);
        expect(((await after.json()) as RoundView).state).toBe("finished");
        const stored = await readSession(server, sessionId);
        expect(stored.rounds[0]).toEqual(before.rounds[0]);
        expect(stored.events.slice(0, before.events.length)).toEqual(before.events);
      },
      HEAVY_TEST_TIMEOUT,
    );

    it(
      "a store write that fails while a round runs is answered 503 store_unavailable, not 200 finished",
      async () => {
        const schema = newSchema();
        const server = await start(
          newAppDir(),
          { "api.database_schema": schema.schema },
          { API_DATABASE_URL: schema.url },
        );
        const sessionId = await createSession(server);
        model.enqueue(...plannerRound('print("before the lock")'));
        expect((await sendMessage(server, sessionId, "before")).status).toBe(200);
        const before = await readSession(server, sessionId);

        model.enqueue(...plannerRound('import time\ntime.sleep(3)\nprint("while locked")'));
        const holder = new pg.Client({ connectionString: schema.url });
        await holder.connect();
        try {
          const answer = sendMessage(server, sessionId, "while locked");
          // The round has begun and its code runs: its next posts cannot be stored.
          while (model.pendingResponses > 1) await new Promise((resolve) => setTimeout(resolve, 50));
          await holder.query("BEGIN");
          await holder.query(`LOCK TABLE "${schema.schema}".posts IN ACCESS EXCLUSIVE MODE`);
          const response = await answer;
          const body = (await response.json()) as { error: { code: string; message: string } };
          expect(response.status, JSON.stringify(body)).toBe(503);
          expect(body.error.code).toBe("store_unavailable");
          expect(body.error.message).toMatch(/^The round ran, but storing it failed/);
          expect(body.error.message).toMatch(/a lock held by another connection did not come free/);
        } finally {
          await holder.query("ROLLBACK").catch(() => undefined);
          await holder.end();
        }

        model.enqueue(...plannerRound('print("after the lock")'));
        const after = await sendMessage(server, sessionId, "after");
        expect(after.status, await after.clone().text()).toBe(200);
        const stored = await readSession(server, sessionId);
        expect(stored.rounds[0]).toEqual(before.rounds[0]);
        expect(stored.rounds.at(-1)!.state).toBe("finished");
      },
      HEAVY_TEST_TIMEOUT,
    );
  });
});
