// Several API instances on one PostgreSQL database, each with its own store object and its own
// (fake) TaskWeaver app, as several processes would have. The real processes, kernels and HTTP
// are in test/e2e/api-scale-*.test.ts.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createApi, type ApiApp } from "./app.js";
import { quoteIdentifier } from "./store/internal/postgres-migrations.js";
import { createPostgresSessionStore } from "./store/postgres-session-store.js";
import type { SessionStore } from "./store/session-store.js";
import { maskDatabaseUrl } from "./store/store-errors.js";
import { createFakeSessionHost, parseSse } from "./testing/fake-session-host.js";

const url = process.env.TASKWEAVER_TEST_DATABASE_URL;
const CI = process.env.CI === "true";

async function unavailableReason(): Promise<string | undefined> {
  const howTo = 'start one with: eval "$(bash scripts/postgres.sh)"';
  if (!url) return `TASKWEAVER_TEST_DATABASE_URL is not set; ${howTo}`;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return undefined;
  } catch (error) {
    return `PostgreSQL at ${maskDatabaseUrl(url)} does not answer (${String(error)}); ${howTo}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const missing = await unavailableReason();
const schema = `api_instances_${randomBytes(4).toString("hex")}`;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  if (missing) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`);
  await client.end();
});

interface Instance {
  app: ApiApp;
  store: SessionStore;
}

async function startInstance(name: string, instanceLostTimeoutMs = 15_000): Promise<Instance> {
  const host = createFakeSessionHost();
  const store = await createPostgresSessionStore({ url: url!, schema, maxConnections: 4 });
  const app = createApi({
    taskWeaver: host,
    store,
    apiKeys: [],
    logRequest: () => {},
    instanceId: name,
    limits: { instanceLostTimeoutMs },
  });
  await app.sessions.ready;
  cleanups.push(async () => {
    await app.shutdown(0);
    await store.close();
    host.remove();
  });
  return { app, store };
}

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});

async function waitFor(condition: () => Promise<boolean> | boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.skipIf(Boolean(missing) && !CI)("several instances on one PostgreSQL database", () => {
  beforeAll(() => {
    // Under CI=true a missing database fails every test here instead of skipping them.
    if (missing) throw new Error(`PostgreSQL is required under CI=true: ${missing}`);
  });

  it("runs a round on one instance only, and any instance follows, refuses and interrupts it", async () => {
    const a = await startInstance("instance-a");
    const b = await startInstance("instance-b");
    const created = await a.app.request("/api/v1/sessions", { method: "POST" });
    const { id } = (await created.json()) as { id: string };

    const running = b.app.request(`/api/v1/sessions/${id}/messages`, json({ message: "slow" }));
    await waitFor(() => b.app.sessions.activeRun(id) !== undefined);
    await waitFor(async () => (await a.store.lastEventSeq(id)) >= 1);

    const refused = await a.app.request(`/api/v1/sessions/${id}/messages`, json({ message: "second" }));
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("round_in_progress");
    const detail = (await (await a.app.request(`/api/v1/sessions/${id}`)).json()) as { state: string };
    expect(detail.state).toBe("running");

    // A follows B's round from its first event; the interrupt sent to A reaches B.
    const following = a.app.request(`/api/v1/sessions/${id}/events`, {
      headers: { accept: "text/event-stream" },
    });
    const interrupted = await a.app.request(`/api/v1/sessions/${id}/interrupt`, { method: "POST" });
    expect(await interrupted.json()).toEqual({ interrupted: true });
    const round = (await (await running).json()) as { state: string; error: { code: string } };
    expect(round).toMatchObject({ state: "failed", error: { code: "aborted" } });
    const events = parseSse(await (await following).text());
    expect(events[0]!.event).toBe("round-start");
    expect(events.at(-1)!.event).toBe("round-error");
    expect(events.map((event) => Number(event.id))).toEqual(events.map((_, index) => index + 1));

    // The next round runs on A, with B's round in its history.
    const next = (await (
      await a.app.request(`/api/v1/sessions/${id}/messages`, json({ message: "after" }))
    ).json()) as { state: string };
    expect(next.state).toBe("finished");
    const rounds = await b.store.listRounds(id);
    expect(rounds.map((item) => [item.user_query, item.state])).toEqual([
      ["slow", "failed"],
      ["after", "finished"],
    ]);
  });

  it("fails the round of a lost instance as instance_lost, tells its followers, and takes messages again", async () => {
    const a = await startInstance("instance-a", 400);
    const created = await a.app.request("/api/v1/sessions", { method: "POST" });
    const { id } = (await created.json()) as { id: string };
    await a.app.request(`/api/v1/sessions/${id}/messages`, json({ message: "first" }));

    // What a process killed in the middle of a round leaves: its lease, an unfinished round with a post.
    const lost = await createPostgresSessionStore({ url: url!, schema, maxConnections: 1 });
    cleanups.push(() => lost.close());
    expect(await lost.acquireRoundLease(id, "instance-gone", 300)).toBe(true);
    await lost.startRound(id, { id: "round-lost", userQuery: "sleep" });
    await lost.appendEvent(id, {
      type: "round-start",
      sessionId: id,
      roundId: "round-lost",
      userQuery: "sleep",
    });

    const refused = await a.app.request(`/api/v1/sessions/${id}/messages`, json({ message: "too early" }));
    expect(refused.status).toBe(409);
    const started = Date.now();
    const followed = parseSse(
      await (
        await a.app.request(`/api/v1/sessions/${id}/events`, {
          headers: { accept: "text/event-stream", "last-event-id": String(await a.store.lastEventSeq(id)) },
        })
      ).text(),
    );
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(followed.map((event) => event.event)).toEqual(["round-error"]);
    expect(JSON.parse(followed[0]!.data)).toMatchObject({
      error: { code: "instance_lost" },
      roundId: "round-lost",
    });

    const next = (await (
      await a.app.request(`/api/v1/sessions/${id}/messages`, json({ message: "again" }))
    ).json()) as { state: string };
    expect(next.state).toBe("finished");
    const rounds = await a.store.listRounds(id);
    expect(rounds.map((item) => [item.user_query, item.state, item.error?.code ?? null])).toEqual([
      ["first", "finished", null],
      ["sleep", "failed", "instance_lost"],
      ["again", "finished", null],
    ]);
  });

  it("deletes a session from the instance that does not run its round", async () => {
    const a = await startInstance("instance-a");
    const b = await startInstance("instance-b");
    const { id } = (await (await a.app.request("/api/v1/sessions", { method: "POST" })).json()) as {
      id: string;
    };
    const running = b.app.request(`/api/v1/sessions/${id}/messages`, json({ message: "slow" }));
    await waitFor(() => b.app.sessions.activeRun(id) !== undefined);
    const started = Date.now();
    expect((await a.app.request(`/api/v1/sessions/${id}`, { method: "DELETE" })).status).toBe(204);
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(((await (await running).json()) as { state: string }).state).toBe("failed");
    expect((await b.app.request(`/api/v1/sessions/${id}`)).status).toBe(404);
    expect(await a.store.getRoundLease(id)).toBeUndefined();
  });
});
