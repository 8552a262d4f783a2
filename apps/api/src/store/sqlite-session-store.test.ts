import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, test, vi } from "vitest";
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

  const writeEvents = async (store: ReturnType<typeof createSqliteSessionStore>) => {
    await store.createSession({ id: "s", ownerKeyHash: null, createdAt: "2026-01-01T00:00:00.000Z", roles: ["planner"], workingDirectory: "/w" });
    // Far more than SQLite's own checkpoint threshold (1000 pages): a commit would have copied it.
    const text = "x".repeat(4_000);
    for (let index = 0; index < 1_500; index += 1)
      await store.appendEvent("s", { type: "round-start", sessionId: "s", roundId: `r${index}`, userQuery: text });
  };
  const countEvents = (path: string) => {
    const check = new Database(path, { readonly: true });
    const row = check.prepare("SELECT COUNT(*) AS count FROM events").get();
    check.close();
    return row;
  };

  test("never copies the write-ahead log into the file in a commit; its worker does, at the latest on close", async () => {
    const path = join(directory, "checkpoint-on-close.sqlite");
    const store = createSqliteSessionStore({ path, checkpointIntervalMs: 600_000 });
    const before = statSync(path).size;
    await writeEvents(store);
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(4_000_000);
    expect(statSync(path).size).toBe(before);
    await store.close();
    expect(statSync(path).size).toBeGreaterThan(before + 4_000_000);
    expect(countEvents(path)).toEqual({ count: 1_500 });
  });

  test("checkpoints from its worker thread about once a second while it runs", async () => {
    const path = join(directory, "checkpoints.sqlite");
    const store = createSqliteSessionStore({ path });
    const before = statSync(path).size;
    await writeEvents(store);
    await vi.waitFor(() => expect(statSync(path).size).toBeGreaterThan(before + 4_000_000), { timeout: 5_000, interval: 100 });
    await store.close();
    expect(countEvents(path)).toEqual({ count: 1_500 });
  });
});
