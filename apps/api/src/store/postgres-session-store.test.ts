import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket, connect } from "node:net";
import pg from "pg";
import { afterAll, describe, expect, test } from "vitest";
import { describeSessionStoreConformance } from "./conformance/describe-session-store-conformance.js";
import { quoteIdentifier } from "./internal/postgres-migrations.js";
import { createPostgresSessionStore } from "./postgres-session-store.js";
import type { SessionStore } from "./session-store.js";
import { StoreUnavailableError, maskDatabaseUrl } from "./store-errors.js";

const url = process.env.TASKWEAVER_TEST_DATABASE_URL;
const HOW_TO_START = 'start one with: eval "$(bash scripts/postgres.sh)"';

async function probe(): Promise<string | undefined> {
  if (!url) return `TASKWEAVER_TEST_DATABASE_URL is not set; ${HOW_TO_START}`;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return undefined;
  } catch (error) {
    return `PostgreSQL at ${maskDatabaseUrl(url)} does not answer (${String(error)}); ${HOW_TO_START}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const unavailableReason = await probe();
const runId = randomBytes(3).toString("hex");
const schemas: string[] = [];

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`);
  } finally {
    await client.end();
  }
}

describeSessionStoreConformance(
  "PostgreSQL",
  ({ database, now }) => createPostgresSessionStore({ url: url!, schema: database, now, maxConnections: 4 }),
  { unavailableReason, removeDatabase: dropSchema },
);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A TCP proxy on 127.0.0.1 to the database that a test can cut and restore. */
async function startProxy(target: { host: string; port: number }, port = 0) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = async () => {
    server = createServer((client) => {
      const upstream = connect(target.port, target.host);
      sockets.add(client);
      sockets.add(upstream);
      client.pipe(upstream).pipe(client);
      const close = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on("error", close).on("close", close);
      upstream.on("error", close).on("close", close);
    });
    await new Promise<void>((resolve) => server!.listen(port, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  };
  await listen();
  return {
    get port() {
      return port;
    },
    /** Stops accepting and drops every open connection, as a database that went away. */
    async cut() {
      const closed = new Promise((resolve) => server!.close(resolve));
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await closed;
    },
    restore: listen,
  };
}

function viaPort(databaseUrl: string, port: number): string {
  const parsed = new URL(databaseUrl);
  parsed.hostname = "127.0.0.1";
  parsed.port = String(port);
  return parsed.toString();
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe("PostgreSQL session store: unreachable database", () => {
  test("rejects at start with store_unavailable naming the URL with the password masked", async () => {
    const port = await freePort();
    const secretUrl = `postgres://someone:very-secret-password@127.0.0.1:${port}/taskweaver`;
    const started = Date.now();
    const error = await errorOf(createPostgresSessionStore({ url: secretUrl, connectTimeoutMs: 2_000 }));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(StoreUnavailableError.isInstance(error)).toBe(true);
    const unavailable = error as StoreUnavailableError;
    expect(unavailable.code).toBe("store_unavailable");
    expect(unavailable.url).toBe(`postgres://someone:***@127.0.0.1:${port}/taskweaver`);
    expect(unavailable.message).toContain(`postgres://someone:***@127.0.0.1:${port}/taskweaver`);
    expect(unavailable.message).toContain("ECONNREFUSED");
    expect(unavailable.message).not.toContain("very-secret-password");
  });

  test("masks passwords in URLs of every shape", () => {
    expect(maskDatabaseUrl("postgres://user:p%40ss@db.example:5432/app?sslmode=require")).toBe(
      "postgres://user:***@db.example:5432/app?sslmode=require",
    );
    expect(maskDatabaseUrl("postgresql://user@host/db?password=secret")).toBe("postgresql://user@host/db?password=***");
    expect(maskDatabaseUrl("postgres://host/db")).toBe("postgres://host/db");
    expect(maskDatabaseUrl("not a url://user:secret@host")).not.toContain("secret");
  });
});

describe.skipIf(unavailableReason !== undefined)("PostgreSQL session store", () => {
  const stores: SessionStore[] = [];
  const open = async (options: Partial<Parameters<typeof createPostgresSessionStore>[0]> & { schema: string }) => {
    const store = await createPostgresSessionStore({ url: url!, ...options });
    stores.push(store);
    return store;
  };
  const newSchema = (label: string) => {
    const schema = `tw_pg_${runId}_${label}`;
    schemas.push(schema);
    return schema;
  };
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close().catch(() => undefined)));
    for (const schema of schemas) await dropSchema(schema);
  }, 60_000);

  test("applies the migrations once when several instances start at once", async () => {
    const schema = newSchema("migrate");
    const started = await Promise.all(Array.from({ length: 5 }, () => open({ schema, maxConnections: 2 })));
    expect(started).toHaveLength(5);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: number }>(
        `SELECT version FROM ${quoteIdentifier(schema)}.schema_migrations ORDER BY version`,
      );
      expect(rows.map((row) => row.version)).toEqual([1, 2, 3]);
    } finally {
      await client.end();
    }
    // A later start finds nothing to do and works on the same tables.
    const later = await open({ schema });
    await later.createSession({ id: "s", ownerKeyHash: null, createdAt: "t", roles: [], workingDirectory: "/w" });
    expect((await started[0]!.getSession("s"))?.id).toBe("s");
  });

  test("wakes a waiter on another instance by polling alone when notifications are off", async () => {
    const schema = newSchema("polling");
    const writer = await open({ schema, listen: false });
    const reader = await open({ schema, listen: false, pollIntervalMs: 100 });
    await writer.createSession({ id: "s", ownerKeyHash: null, createdAt: "t", roles: [], workingDirectory: "/w" });
    const waiting = reader.waitForEvents("s", 0, { timeoutMs: 5_000 });
    await writer.appendEvent("s", { type: "round-start", sessionId: "s", roundId: "r", userQuery: "q" });
    expect(await waiting).toBe(true);
  });

  test("delivers an event committed on one instance to a waiter on another within milliseconds", async () => {
    const schema = newSchema("fanout");
    // Polling far slower than the figure measured, so only NOTIFY can explain it.
    const writer = await open({ schema, pollIntervalMs: 10_000 });
    const reader = await open({ schema, pollIntervalMs: 10_000 });
    await writer.createSession({ id: "s", ownerKeyHash: null, createdAt: "t", roles: [], workingDirectory: "/w" });
    // Let the reader's LISTEN connection come up.
    await reader.waitForEvents("s", 0, { timeoutMs: 300 });
    const delays: number[] = [];
    for (let index = 0; index < 30; index += 1) {
      const after = await writer.lastEventSeq("s");
      const waiting = reader.waitForEvents("s", after, { timeoutMs: 5_000 });
      await new Promise((resolve) => setTimeout(resolve, 5));
      let committedAt = 0;
      const appended = writer
        .appendEvent("s", { type: "round-start", sessionId: "s", roundId: `r${index}`, userQuery: "q" })
        .then(() => {
          committedAt = performance.now();
        });
      expect(await waiting).toBe(true);
      const deliveredAt = performance.now();
      await appended;
      delays.push(Math.max(0, deliveredAt - committedAt));
    }
    delays.sort((left, right) => left - right);
    const p50 = delays[Math.floor(delays.length / 2)]!;
    console.info(`[postgres store] commit-to-wake-up on another instance over ${delays.length} events: p50 ${p50.toFixed(2)} ms, max ${delays.at(-1)!.toFixed(2)} ms`);
    expect(p50).toBeLessThan(50);
  });

  test("errors clearly when the server goes away mid-use, loses nothing committed and recovers", async () => {
    const schema = newSchema("proxy");
    const target = new URL(url!);
    const proxy = await startProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const proxiedUrl = viaPort(url!, proxy.port);
    const store = await open({ schema, url: proxiedUrl, connectTimeoutMs: 2_000 });
    await store.createSession({ id: "s", ownerKeyHash: null, createdAt: "t", roles: ["planner"], workingDirectory: "/w" });
    await store.startRound("s", { id: "r1", userQuery: "q" });
    for (let index = 0; index < 10; index += 1) {
      await store.appendEvent("s", { type: "post-delta", sessionId: "s", roundId: "r1", postId: "p", delta: `${index}` });
    }

    await proxy.cut();
    const masked = maskDatabaseUrl(proxiedUrl);
    expect(masked).toContain(":***@");
    for (const call of [
      () => store.appendEvent("s", { type: "post-delta", sessionId: "s", roundId: "r1", postId: "p", delta: "lost" }),
      () => store.listEvents("s", 0),
      () => store.finishRound("s", { id: "r1", user_query: "q", state: "finished", post_list: [] }),
      () => store.waitForEvents("s", 10, { timeoutMs: 2_000 }),
      () => store.ping(),
    ]) {
      const error = await errorOf(call());
      expect(StoreUnavailableError.isInstance(error), String(error)).toBe(true);
      expect((error as StoreUnavailableError).message).toContain(masked);
      expect((error as StoreUnavailableError).message).not.toContain(target.password);
    }

    // Everything committed before is there, read directly from the server.
    const direct = await open({ schema });
    expect((await direct.listEvents("s", 0)).map((item) => item.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect((await direct.listRounds("s")).map((item) => item.state)).toEqual(["created"]);

    // The same store object works again once the server is back.
    await proxy.restore();
    expect(await store.appendEvent("s", { type: "post-delta", sessionId: "s", roundId: "r1", postId: "p", delta: "10" })).toBe(11);
    await store.finishRound("s", { id: "r1", user_query: "q", state: "finished", post_list: [] });
    expect((await direct.listRounds("s")).map((item) => item.state)).toEqual(["finished"]);
    await store.close();
    await proxy.cut();
  });
});
