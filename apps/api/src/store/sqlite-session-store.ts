import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { PostSchema, type Post, type Round, type TaskWeaverEvent } from "@taskweaver/core";
import { startSqliteCheckpointer } from "./internal/sqlite-checkpointer.js";
import { withSqliteErrors } from "./internal/sqlite-errors.js";
import { createWakeUps, subscribeToCommands, waitUntilNewer } from "./internal/wake-ups.js";
import type {
  RoundFailure,
  RoundLease,
  SessionCommand,
  SessionCommandName,
  SessionKernel,
  SessionRecord,
  SessionStore,
  StoredApproval,
  StoredEvent,
  StoredRound,
  ApprovalAnswer,
} from "./session-store.js";

/** Options of {@link createSqliteSessionStore}. */
export interface SqliteSessionStoreOptions {
  /** Database file, or `":memory:"`. Its folder is created when missing. */
  path: string;
  /** @default () => new Date() */
  now?: () => Date;
  /**
   * How often `waitForEvents` and `onCommand` look at the file for writes by other processes
   * (writes through this store object wake them at once).
   * @default 200
   */
  pollIntervalMs?: number;
  /**
   * How often a worker thread copies the write-ahead log into the database file (commits never
   * do: see `startSqliteCheckpointer`). @default 1000
   */
  checkpointIntervalMs?: number;
}

/** Numbered migrations; `PRAGMA user_version` records the last one applied. */
const MIGRATIONS: { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  owner_key_hash TEXT,
  created_at TEXT NOT NULL,
  roles_json TEXT NOT NULL,
  working_directory TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_owner ON sessions (owner_key_hash, created_at);
CREATE TABLE IF NOT EXISTS rounds (
  id TEXT NOT NULL,
  session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  user_query TEXT NOT NULL,
  state TEXT NOT NULL,
  error_json TEXT,
  created_at TEXT NOT NULL,
  finished_at TEXT,
  PRIMARY KEY (session_id, id)
);
CREATE TABLE IF NOT EXISTS posts (
  session_id TEXT NOT NULL,
  round_id TEXT NOT NULL,
  id TEXT NOT NULL,
  position INTEGER NOT NULL,
  post_json TEXT NOT NULL,
  PRIMARY KEY (session_id, round_id, id),
  FOREIGN KEY (session_id, round_id) REFERENCES rounds (session_id, id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS events (
  session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  round_id TEXT,
  event_json TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (session_id, seq)
);`,
  },
  {
    version: 2,
    sql: `
ALTER TABLE sessions ADD COLUMN kernel_json TEXT;
CREATE TABLE round_leases (
  session_id TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
  instance_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX round_leases_by_instance ON round_leases (instance_id);
CREATE TABLE session_commands (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  session_id TEXT NOT NULL,
  instance_id TEXT NOT NULL,
  command TEXT NOT NULL,
  sent_at INTEGER NOT NULL
);
CREATE INDEX session_commands_by_instance ON session_commands (instance_id, id);`,
  },
  {
    version: 3,
    sql: `
CREATE TABLE approvals (
  session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  approval_id TEXT NOT NULL,
  round_id TEXT NOT NULL,
  state TEXT NOT NULL,
  answer_json TEXT,
  created_at TEXT NOT NULL,
  PRIMARY KEY (session_id, approval_id)
);`,
  },
];

interface SessionRow {
  id: string;
  owner_key_hash: string | null;
  created_at: string;
  roles_json: string;
  working_directory: string;
  kernel_json: string | null;
}

interface RoundRow {
  id: string;
  user_query: string;
  state: Round["state"];
  error_json: string | null;
  created_at: string;
  finished_at: string | null;
}

interface LeaseRow {
  session_id: string;
  instance_id: string;
  expires_at: number;
}

interface ApprovalRow {
  session_id: string;
  approval_id: string;
  round_id: string;
  state: StoredApproval["state"];
  answer_json: string | null;
}

function toApproval(row: ApprovalRow): StoredApproval {
  const approval: StoredApproval = {
    sessionId: row.session_id,
    approvalId: row.approval_id,
    roundId: row.round_id,
    state: row.state,
  };
  if (row.answer_json !== null) approval.answer = JSON.parse(row.answer_json) as ApprovalAnswer;
  return approval;
}

interface CommandRow {
  id: number;
  session_id: string;
  instance_id: string;
  command: SessionCommandName;
  sent_at: number;
}

function toRecord(row: SessionRow): SessionRecord {
  const record: SessionRecord = {
    id: row.id,
    ownerKeyHash: row.owner_key_hash,
    createdAt: row.created_at,
    roles: JSON.parse(row.roles_json) as string[],
    workingDirectory: row.working_directory,
  };
  if (row.kernel_json !== null) record.kernel = JSON.parse(row.kernel_json) as SessionKernel;
  return record;
}

function toLease(row: LeaseRow): RoundLease {
  return { sessionId: row.session_id, instanceId: row.instance_id, expiresAt: new Date(row.expires_at) };
}

function migrate(database: Database.Database): void {
  // IMMEDIATE takes the write lock first, so two processes opening a new file migrate one
  // after the other and the second sees the version the first wrote.
  database
    .transaction(() => {
      const version = database.pragma("user_version", { simple: true }) as number;
      for (const migration of MIGRATIONS) {
        if (migration.version <= version) continue;
        database.exec(migration.sql);
        database.pragma(`user_version = ${migration.version}`);
      }
    })
    .immediate();
}

/**
 * The SQLite {@link SessionStore}: one file in WAL mode so readers (history, replays) never
 * wait for the writer of a running round. better-sqlite3 is synchronous, so every call has
 * happened by the time it returns its promise; call order is write order.
 */
export function createSqliteSessionStore(options: SqliteSessionStoreOptions): SessionStore {
  const now = options.now ?? (() => new Date());
  const pollIntervalMs = options.pollIntervalMs ?? 200;
  if (options.path !== ":memory:") mkdirSync(dirname(options.path), { recursive: true });
  const database = new Database(options.path);
  database.pragma("journal_mode = WAL");
  // NORMAL is durable across process crashes in WAL mode; only a power cut may lose the tail.
  database.pragma("synchronous = NORMAL");
  database.pragma("foreign_keys = ON");
  database.pragma("busy_timeout = 5000");
  migrate(database);
  // The log is copied into the file by a worker thread, not by the commit that fills it.
  const checkpointer =
    options.path === ":memory:"
      ? undefined
      : startSqliteCheckpointer(database, {
          path: options.path,
          intervalMs: options.checkpointIntervalMs,
          onError: (error) =>
            process.stderr.write(
              `taskweaver: the SQLite checkpoint worker stopped (${error.message}); checkpoints run on the main thread again.\n`,
            ),
        });

  const statements = {
    insertSession: database.prepare(
      "INSERT INTO sessions (id, owner_key_hash, created_at, roles_json, working_directory, kernel_json) VALUES (?, ?, ?, ?, ?, ?)",
    ),
    getSession: database.prepare("SELECT * FROM sessions WHERE id = ?"),
    listAll: database.prepare("SELECT * FROM sessions ORDER BY created_at, rowid"),
    listByOwner: database.prepare(
      "SELECT * FROM sessions WHERE owner_key_hash IS ? ORDER BY created_at, rowid",
    ),
    deleteSession: database.prepare("DELETE FROM sessions WHERE id = ?"),
    setKernel: database.prepare("UPDATE sessions SET kernel_json = ? WHERE id = ?"),
    insertRound: database.prepare(
      `INSERT OR IGNORE INTO rounds (id, session_id, position, user_query, state, created_at)
       SELECT ?, ?, COALESCE(MAX(position), 0) + 1, ?, 'created', ? FROM rounds WHERE session_id = ?`,
    ),
    updateRound: database.prepare(
      "UPDATE rounds SET user_query = ?, state = ?, error_json = ?, finished_at = ? WHERE session_id = ? AND id = ?",
    ),
    upsertPost: database.prepare(
      `INSERT INTO posts (session_id, round_id, id, position, post_json)
       SELECT ?, ?, ?, COALESCE(MAX(position), 0) + 1, ? FROM posts WHERE session_id = ? AND round_id = ?
       ON CONFLICT (session_id, round_id, id) DO UPDATE SET post_json = excluded.post_json`,
    ),
    deletePosts: database.prepare("DELETE FROM posts WHERE session_id = ? AND round_id = ?"),
    listRounds: database.prepare("SELECT * FROM rounds WHERE session_id = ? ORDER BY position"),
    listPosts: database.prepare(
      "SELECT round_id, post_json FROM posts WHERE session_id = ? ORDER BY round_id, position",
    ),
    lastSeq: database.prepare("SELECT COALESCE(MAX(seq), 0) AS seq FROM events WHERE session_id = ?"),
    // One statement, so the number is taken under SQLite's write lock even with other processes.
    insertEvent: database.prepare(
      `INSERT INTO events (session_id, seq, type, round_id, event_json, created_at)
       SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ? FROM events WHERE session_id = ?
       RETURNING seq`,
    ),
    listEvents: database.prepare(
      "SELECT seq, event_json FROM events WHERE session_id = ? AND seq > ? ORDER BY seq",
    ),
    failAll: database.prepare(
      "UPDATE rounds SET state = 'failed', error_json = ?, finished_at = ? WHERE state = 'created'",
    ),
    failOne: database.prepare(
      "UPDATE rounds SET state = 'failed', error_json = ?, finished_at = ? WHERE state = 'created' AND session_id = ?",
    ),
    failWithoutLease: database.prepare(
      `UPDATE rounds SET state = 'failed', error_json = ?, finished_at = ?
       WHERE state = 'created' AND session_id NOT IN (SELECT session_id FROM round_leases WHERE expires_at > ?)`,
    ),
    acquireLease: database.prepare(
      `INSERT INTO round_leases (session_id, instance_id, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (session_id) DO UPDATE SET instance_id = excluded.instance_id, expires_at = excluded.expires_at
       WHERE round_leases.expires_at <= ?`,
    ),
    renewLeases: database.prepare(
      "UPDATE round_leases SET expires_at = ? WHERE instance_id = ? AND expires_at > ? RETURNING session_id",
    ),
    releaseLease: database.prepare("DELETE FROM round_leases WHERE session_id = ? AND instance_id = ?"),
    getLease: database.prepare("SELECT * FROM round_leases WHERE session_id = ?"),
    expiredLeases: database.prepare(
      "SELECT * FROM round_leases WHERE expires_at <= ? ORDER BY expires_at, session_id",
    ),
    insertCommand: database.prepare(
      `INSERT INTO session_commands (session_id, instance_id, command, sent_at)
       SELECT session_id, instance_id, ?, ? FROM round_leases WHERE session_id = ? AND expires_at > ?
       RETURNING instance_id`,
    ),
    claimCommands: database.prepare("DELETE FROM session_commands WHERE instance_id = ? RETURNING *"),
    openApproval: database.prepare(
      `INSERT OR IGNORE INTO approvals (session_id, approval_id, round_id, state, created_at)
       VALUES (?, ?, ?, 'pending', ?)`,
    ),
    // Conditional on `pending`, so of two answers at once only one changes the row.
    answerApproval: database.prepare(
      "UPDATE approvals SET state = 'answered', answer_json = ? WHERE session_id = ? AND approval_id = ? AND state = 'pending'",
    ),
    closeApproval: database.prepare(
      "UPDATE approvals SET state = 'closed' WHERE session_id = ? AND approval_id = ? AND state = 'pending'",
    ),
    getApproval: database.prepare("SELECT * FROM approvals WHERE session_id = ? AND approval_id = ?"),
    ping: database.prepare("SELECT 1"),
  };

  const wakeUps = createWakeUps();
  const closing = new AbortController();

  const insertPost = (sessionId: string, roundId: string, post: Post) => {
    statements.upsertPost.run(sessionId, roundId, post.id, JSON.stringify(post), sessionId, roundId);
  };

  const finishRound = database.transaction((sessionId: string, round: Round, error: RoundFailure | undefined) => {
    const timestamp = now().toISOString();
    statements.insertRound.run(round.id, sessionId, round.user_query, timestamp, sessionId);
    statements.updateRound.run(
      round.user_query,
      round.state === "created" ? "failed" : round.state,
      error ? JSON.stringify(error) : null,
      timestamp,
      sessionId,
      round.id,
    );
    statements.deletePosts.run(sessionId, round.id);
    for (const post of round.post_list) insertPost(sessionId, round.id, post);
  });

  const lastEventSeq = (sessionId: string): number =>
    (statements.lastSeq.get(sessionId) as { seq: number }).seq;

  const store: SessionStore = {
    async createSession(record) {
      statements.insertSession.run(
        record.id,
        record.ownerKeyHash,
        record.createdAt,
        JSON.stringify(record.roles),
        record.workingDirectory,
        record.kernel ? JSON.stringify(record.kernel) : null,
      );
    },
    async getSession(id) {
      const row = statements.getSession.get(id) as SessionRow | undefined;
      return row ? toRecord(row) : undefined;
    },
    async listSessions(ownerKeyHash) {
      const rows = (
        ownerKeyHash === undefined ? statements.listAll.all() : statements.listByOwner.all(ownerKeyHash)
      ) as SessionRow[];
      return rows.map(toRecord);
    },
    async deleteSession(id) {
      return statements.deleteSession.run(id).changes > 0;
    },
    async setSessionKernel(sessionId, kernel) {
      statements.setKernel.run(kernel ? JSON.stringify(kernel) : null, sessionId);
    },
    async startRound(sessionId, round) {
      statements.insertRound.run(round.id, sessionId, round.userQuery, now().toISOString(), sessionId);
    },
    async savePost(sessionId, roundId, post) {
      insertPost(sessionId, roundId, post);
    },
    async finishRound(sessionId, round, error) {
      finishRound(sessionId, round, error);
    },
    async listRounds(sessionId) {
      const posts = new Map<string, Post[]>();
      for (const row of statements.listPosts.all(sessionId) as { round_id: string; post_json: string }[]) {
        const list = posts.get(row.round_id) ?? [];
        list.push(PostSchema.parse(JSON.parse(row.post_json)));
        posts.set(row.round_id, list);
      }
      return (statements.listRounds.all(sessionId) as RoundRow[]).map(
        (row): StoredRound => ({
          id: row.id,
          user_query: row.user_query,
          state: row.state,
          post_list: posts.get(row.id) ?? [],
          error: row.error_json ? (JSON.parse(row.error_json) as RoundFailure) : null,
          createdAt: row.created_at,
          finishedAt: row.finished_at,
        }),
      );
    },
    async appendEvent(sessionId, event) {
      const roundId = "roundId" in event ? event.roundId : null;
      const { seq } = statements.insertEvent.get(
        sessionId,
        event.type,
        roundId,
        JSON.stringify(event),
        now().toISOString(),
        sessionId,
      ) as { seq: number };
      wakeUps.wake(`event:${sessionId}`);
      return seq;
    },
    async listEvents(sessionId, afterSeq) {
      return (statements.listEvents.all(sessionId, afterSeq) as { seq: number; event_json: string }[]).map(
        (row): StoredEvent => ({ seq: row.seq, event: JSON.parse(row.event_json) as TaskWeaverEvent }),
      );
    },
    async lastEventSeq(sessionId) {
      return lastEventSeq(sessionId);
    },
    waitForEvents(sessionId, afterSeq, waitOptions = {}) {
      return waitUntilNewer({
        key: `event:${sessionId}`,
        afterSeq,
        latest: async () => lastEventSeq(sessionId),
        wakeUps,
        pollIntervalMs,
        timeoutMs: waitOptions.timeoutMs ?? 30_000,
        signal: waitOptions.signal,
        closed: closing.signal,
      });
    },
    async failUnfinishedRounds(error, sessionId) {
      const timestamp = now().toISOString();
      const json = JSON.stringify(error);
      const result =
        sessionId === undefined
          ? statements.failAll.run(json, timestamp)
          : statements.failOne.run(json, timestamp, sessionId);
      return result.changes;
    },
    async failRoundsWithoutLease(error, at) {
      return statements.failWithoutLease.run(JSON.stringify(error), now().toISOString(), at.getTime()).changes;
    },
    async acquireRoundLease(sessionId, instanceId, ttlMs) {
      const at = now().getTime();
      return statements.acquireLease.run(sessionId, instanceId, at + ttlMs, at).changes > 0;
    },
    async renewLeases(instanceId, ttlMs) {
      const at = now().getTime();
      return (statements.renewLeases.all(at + ttlMs, instanceId, at) as { session_id: string }[])
        .map((row) => row.session_id)
        .sort();
    },
    async releaseRoundLease(sessionId, instanceId) {
      return statements.releaseLease.run(sessionId, instanceId).changes > 0;
    },
    async getRoundLease(sessionId) {
      const row = statements.getLease.get(sessionId) as LeaseRow | undefined;
      return row ? toLease(row) : undefined;
    },
    async listExpiredLeases(at) {
      return (statements.expiredLeases.all(at.getTime()) as LeaseRow[]).map(toLease);
    },
    async sendCommand(sessionId, command) {
      const at = now().getTime();
      const row = statements.insertCommand.get(command, at, sessionId, at) as { instance_id: string } | undefined;
      if (row) wakeUps.wake(`command:${row.instance_id}`);
      return row?.instance_id;
    },
    async onCommand(instanceId, handler) {
      return subscribeToCommands({
        instanceId,
        claim: async () =>
          (statements.claimCommands.all(instanceId) as CommandRow[])
            .sort((left, right) => left.id - right.id)
            .map(
              (row): SessionCommand => ({
                sessionId: row.session_id,
                command: row.command,
                instanceId: row.instance_id,
                sentAt: new Date(row.sent_at),
              }),
            ),
        handler,
        wakeUps: { wake: wakeUps.wake, listen: (key, listener) => wakeUps.listen(`command:${key}`, listener) },
        pollIntervalMs,
        closed: closing.signal,
      });
    },
    async openApproval(sessionId, approval) {
      statements.openApproval.run(sessionId, approval.approvalId, approval.roundId, now().toISOString());
    },
    async answerApproval(sessionId, approvalId, answer) {
      if (statements.answerApproval.run(JSON.stringify(answer), sessionId, approvalId).changes > 0) return "answered";
      const row = statements.getApproval.get(sessionId, approvalId) as ApprovalRow | undefined;
      if (!row) return "unknown";
      return row.state === "closed" ? "closed" : "already_answered";
    },
    async readApproval(sessionId, approvalId) {
      const row = statements.getApproval.get(sessionId, approvalId) as ApprovalRow | undefined;
      return row ? toApproval(row) : undefined;
    },
    async closeApproval(sessionId, approvalId) {
      statements.closeApproval.run(sessionId, approvalId);
    },
    async ping() {
      statements.ping.get();
    },
    async close() {
      closing.abort();
      await checkpointer?.stop();
      if (database.open) database.close();
    },
  };
  return withSqliteErrors(store, options.path);
}
