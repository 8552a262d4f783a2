import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, describe, expect, test } from "vitest";
import { quoteIdentifier } from "./internal/postgres-migrations.js";
import { createPostgresSessionStore } from "./postgres-session-store.js";
import { StoreUnavailableError } from "./store-errors.js";

const url = process.env.TASKWEAVER_TEST_DATABASE_URL;
const schema = `faults_${randomBytes(3).toString("hex")}`;
// Without a database the test is skipped, except under CI=true where it fails (as the store's other tests).
const run = url !== undefined || process.env.CI === "true";

afterAll(async () => {
  if (!url) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`);
  await client.end();
});

describe.skipIf(!run)("PostgreSQL session store faults", () => {
  test(
    "a table locked by another connection is a store_unavailable error after lock_timeout, and the store works once it is released",
    { timeout: 30_000 },
    async () => {
      if (!url)
        throw new Error(
          'TASKWEAVER_TEST_DATABASE_URL is not set; start one with: eval "$(bash scripts/postgres.sh)"',
        );
      const store = await createPostgresSessionStore({ url, schema, lockTimeoutMs: 500 });
      const record = (id: string) => ({
        id,
        ownerKeyHash: null,
        createdAt: "2025-01-01T00:00:00.000Z",
        roles: ["code_interpreter"],
        workingDirectory: `/work/${id}`,
      });
      await store.createSession(record("s1"));
      await store.startRound("s1", { id: "before", userQuery: "before the lock" });
      const other = new pg.Client({ connectionString: url });
      await other.connect();
      try {
        await other.query("BEGIN");
        await other.query(`LOCK TABLE ${quoteIdentifier(schema)}.rounds IN ACCESS EXCLUSIVE MODE`);
        const started = Date.now();
        const error = await store.startRound("s1", { id: "while-locked", userQuery: "x" }).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(StoreUnavailableError.isInstance(error), String(error)).toBe(true);
        expect((error as Error).message).toMatch(
          /lock held by another connection did not come free within 0.5 s/,
        );
        expect(Date.now() - started).toBeLessThan(10_000);
      } finally {
        await other.query("ROLLBACK");
        await other.end();
      }
      await store.startRound("s1", { id: "after", userQuery: "after the lock" });
      expect((await store.listRounds("s1")).map((round) => round.id)).toEqual(["before", "after"]);
      await store.close();
    },
  );
});
