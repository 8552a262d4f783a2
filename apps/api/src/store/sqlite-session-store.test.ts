import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, test } from "vitest";
import { describeSessionStoreConformance } from "./conformance/describe-session-store-conformance.js";
import { createSqliteSessionStore } from "./sqlite-session-store.js";

const directory = mkdtempSync(join(tmpdir(), "tw-sqlite-store-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describeSessionStoreConformance("SQLite", ({ database, now }) =>
  createSqliteSessionStore({ path: join(directory, `${database}.sqlite`), now }),
);

describe("SQLite session store", () => {
  test("upgrades a file written by the first schema version and keeps its rows", async () => {
    const path = join(directory, "version-1.sqlite");
    const old = new Database(path);
    old.exec(`
      CREATE TABLE sessions (id TEXT PRIMARY KEY, owner_key_hash TEXT, created_at TEXT NOT NULL,
        roles_json TEXT NOT NULL, working_directory TEXT NOT NULL);
      CREATE TABLE rounds (id TEXT NOT NULL, session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        position INTEGER NOT NULL, user_query TEXT NOT NULL, state TEXT NOT NULL, error_json TEXT,
        created_at TEXT NOT NULL, finished_at TEXT, PRIMARY KEY (session_id, id));
      CREATE TABLE posts (session_id TEXT NOT NULL, round_id TEXT NOT NULL, id TEXT NOT NULL,
        position INTEGER NOT NULL, post_json TEXT NOT NULL, PRIMARY KEY (session_id, round_id, id),
        FOREIGN KEY (session_id, round_id) REFERENCES rounds (session_id, id) ON DELETE CASCADE);
      CREATE TABLE events (session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL, type TEXT NOT NULL, round_id TEXT, event_json TEXT NOT NULL,
        created_at TEXT NOT NULL, PRIMARY KEY (session_id, seq));
      INSERT INTO sessions VALUES ('old', NULL, '2025-01-01T00:00:00.000Z', '["planner"]', '/work/old');
      INSERT INTO events VALUES ('old', 1, 'round-start', 'r', '{"type":"round-start","sessionId":"old","roundId":"r","userQuery":"q"}', '2025-01-01T00:00:00.000Z');
      PRAGMA user_version = 1;
    `);
    old.close();
    const store = createSqliteSessionStore({ path });
    expect(await store.getSession("old")).toEqual({
      id: "old",
      ownerKeyHash: null,
      createdAt: "2025-01-01T00:00:00.000Z",
      roles: ["planner"],
      workingDirectory: "/work/old",
    });
    expect(await store.appendEvent("old", { type: "round-start", sessionId: "old", roundId: "r2", userQuery: "q" })).toBe(2);
    await store.setSessionKernel("old", { serverUrl: "http://127.0.0.1:1", kernelId: "k" });
    expect(await store.acquireRoundLease("old", "a", 1_000)).toBe(true);
    await store.close();
    const check = new Database(path);
    expect(check.pragma("user_version", { simple: true })).toBe(3);
    check.close();
  });
});
