// Faults of a reachable PostgreSQL server under the store besides a locked table (that one is in
// test/e2e/api-faults.test.ts, over HTTP): another instance's migration holding the schema lock
// past lockTimeoutMs is waited for, and a server that only takes reads is a store_unavailable
// error saying so.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, describe, expect, test } from "vitest";
import { quoteIdentifier } from "./internal/postgres-migrations.js";
import { createPostgresSessionStore } from "./postgres-session-store.js";
import type { SessionRecord } from "./session-store.js";
import { StoreUnavailableError } from "./store-errors.js";

const url = process.env.TASKWEAVER_TEST_DATABASE_URL;
const CI = process.env.CI === "true";

async function probe(): Promise<string | undefined> {
  if (!url)
    return 'TASKWEAVER_TEST_DATABASE_URL is not set; start one with: eval "$(bash scripts/postgres.sh)"';
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    return undefined;
  } catch (error) {
    return `PostgreSQL does not answer (${String(error)})`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const unavailableReason = await probe();
const schemas: string[] = [];
const newSchema = () => {
  const schema = `store_faults_${randomBytes(4).toString("hex")}`;
  schemas.push(schema);
  return schema;
};

async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

afterAll(async () => {
  if (unavailableReason !== undefined) return;
  const client = await connect();
  try {
    for (const schema of schemas)
      await client.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`);
  } finally {
    await client.end();
  }
});

function record(id: string): SessionRecord {
  return {
    id,
    ownerKeyHash: null,
    createdAt: "2025-01-01T00:00:00.000Z",
    roles: ["code_interpreter"],
    workingDirectory: `/work/${id}`,
  };
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe.runIf(unavailableReason === undefined || CI)("PostgreSQL session store faults", () => {
  test("needs PostgreSQL", () => {
    expect(unavailableReason).toBeUndefined();
  });

  test("a start waits for another instance's migration longer than lockTimeoutMs", async () => {
    const schema = newSchema();
    const holder = await connect();
    try {
      await holder.query("BEGIN");
      // The key the migrations take (MIGRATION_LOCK_KEY, the schema's hash).
      await holder.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [0x7457_0001, schema]);
      const starting = createPostgresSessionStore({ url: url!, schema, lockTimeoutMs: 200, listen: false });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await holder.query("COMMIT");
      const store = await starting;
      await store.createSession(record("s"));
      expect((await store.listSessions()).map((session) => session.id)).toEqual(["s"]);
      await store.close();
    } finally {
      await holder.query("ROLLBACK").catch(() => undefined);
      await holder.end();
    }
  });

  test("a server that only takes reads is store_unavailable saying so", async () => {
    const readOnly = new URL(url!);
    readOnly.searchParams.set("options", "-c default_transaction_read_only=on");
    const error = await errorOf(
      createPostgresSessionStore({ url: readOnly.toString(), schema: newSchema(), listen: false }),
    );
    expect(StoreUnavailableError.isInstance(error), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/only takes reads/);
  });
});
