import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { PostSchema, type Post, type Round, type TaskWeaverEvent } from "@taskweaver/core";
import type { SessionRecord, SessionStore, StoredEvent, StoredRound } from "./session-store.js";

/** Options of {@link createSqliteSessionStore}. */
export interface SqliteSessionStoreOptions {
  /** Database file, or `":memory:"`. Its folder is created when missing. */
  path: string;
  /** @default () => new Date() */
  now?: () => Date;
}

const SCHEMA_VERSION = 1;

const MIGRATION = `
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
);
`;

interface SessionRow {
  id: string;
  owner_key_hash: string | null;
  created_at: string;
  roles_json: string;
  working_directory: string;
}

interface RoundRow {
  id: string;
  user_query: string;
  state: Round["state"];
  error_json: string | null;
  created_at: string;
  finished_at: string | null;
}

function toRecord(row: SessionRow): SessionRecord {
  return {
    id: row.id,
    ownerKeyHash: row.owner_key_hash,
    createdAt: row.created_at,
    roles: JSON.parse(row.roles_json) as string[],
    workingDirectory: row.working_directory,
  };
}

/**
 * The SQLite {@link SessionStore}: one file in WAL mode so readers (history, replays) never
 * wait for the writer of a running round.
 */
export function createSqliteSessionStore(options: SqliteSessionStoreOptions): SessionStore {
  const now = options.now ?? (() => new Date());
  if (options.path !== ":memory:") mkdirSync(dirname(options.path), { recursive: true });
  const database = new Database(options.path);
  database.pragma("journal_mode = WAL");
  // NORMAL is durable across process crashes in WAL mode; only a power cut may lose the tail.
  database.pragma("synchronous = NORMAL");
  database.pragma("foreign_keys = ON");
  database.pragma("busy_timeout = 5000");
  const version = database.pragma("user_version", { simple: true }) as number;
  if (version < SCHEMA_VERSION) {
    database.exec(MIGRATION);
    database.pragma(`user_version = ${SCHEMA_VERSION}`);
  }

  const statements = {
    insertSession: database.prepare(
      "INSERT INTO sessions (id, owner_key_hash, created_at, roles_json, working_directory) VALUES (?, ?, ?, ?, ?)",
    ),
    getSession: database.prepare("SELECT * FROM sessions WHERE id = ?"),
    listAll: database.prepare("SELECT * FROM sessions ORDER BY created_at, rowid"),
    listByOwner: database.prepare(
      "SELECT * FROM sessions WHERE owner_key_hash IS ? ORDER BY created_at, rowid",
    ),
    deleteSession: database.prepare("DELETE FROM sessions WHERE id = ?"),
    nextRoundPosition: database.prepare(
      "SELECT COALESCE(MAX(position), 0) + 1 AS next FROM rounds WHERE session_id = ?",
    ),
    insertRound: database.prepare(
      "INSERT OR IGNORE INTO rounds (id, session_id, position, user_query, state, created_at) VALUES (?, ?, ?, ?, 'created', ?)",
    ),
    updateRound: database.prepare(
      "UPDATE rounds SET user_query = ?, state = ?, error_json = ?, finished_at = ? WHERE session_id = ? AND id = ?",
    ),
    nextPostPosition: database.prepare(
      "SELECT COALESCE(MAX(position), 0) + 1 AS next FROM posts WHERE session_id = ? AND round_id = ?",
    ),
    upsertPost: database.prepare(
      `INSERT INTO posts (session_id, round_id, id, position, post_json) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (session_id, round_id, id) DO UPDATE SET post_json = excluded.post_json`,
    ),
    deletePosts: database.prepare("DELETE FROM posts WHERE session_id = ? AND round_id = ?"),
    listRounds: database.prepare("SELECT * FROM rounds WHERE session_id = ? ORDER BY position"),
    listPosts: database.prepare(
      "SELECT round_id, post_json FROM posts WHERE session_id = ? ORDER BY round_id, position",
    ),
    lastSeq: database.prepare("SELECT COALESCE(MAX(seq), 0) AS seq FROM events WHERE session_id = ?"),
    insertEvent: database.prepare(
      "INSERT INTO events (session_id, seq, type, round_id, event_json, created_at) VALUES (?, ?, ?, ?, ?, ?)",
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
  };

  // Sequence numbers are handed out from memory so that appending stays one INSERT; the
  // cache is filled from the table the first time a session appends after opening.
  const lastSeqBySession = new Map<string, number>();
  const lastEventSeq = (sessionId: string): number => {
    let seq = lastSeqBySession.get(sessionId);
    if (seq === undefined) {
      seq = (statements.lastSeq.get(sessionId) as { seq: number }).seq;
      lastSeqBySession.set(sessionId, seq);
    }
    return seq;
  };

  const insertPost = (sessionId: string, roundId: string, post: Post) => {
    const { next } = statements.nextPostPosition.get(sessionId, roundId) as { next: number };
    statements.upsertPost.run(sessionId, roundId, post.id, next, JSON.stringify(post));
  };

  const finishRound = database.transaction(
    (sessionId: string, round: Round, error: { code: string; message: string } | undefined) => {
      const { next } = statements.nextRoundPosition.get(sessionId) as { next: number };
      const timestamp = now().toISOString();
      statements.insertRound.run(round.id, sessionId, next, round.user_query, timestamp);
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
    },
  );

  return {
    createSession(record) {
      statements.insertSession.run(
        record.id,
        record.ownerKeyHash,
        record.createdAt,
        JSON.stringify(record.roles),
        record.workingDirectory,
      );
    },
    getSession(id) {
      const row = statements.getSession.get(id) as SessionRow | undefined;
      return row ? toRecord(row) : undefined;
    },
    listSessions(ownerKeyHash) {
      const rows = (
        ownerKeyHash === undefined ? statements.listAll.all() : statements.listByOwner.all(ownerKeyHash)
      ) as SessionRow[];
      return rows.map(toRecord);
    },
    deleteSession(id) {
      lastSeqBySession.delete(id);
      return statements.deleteSession.run(id).changes > 0;
    },
    startRound(sessionId, round) {
      const { next } = statements.nextRoundPosition.get(sessionId) as { next: number };
      statements.insertRound.run(round.id, sessionId, next, round.userQuery, now().toISOString());
    },
    savePost(sessionId, roundId, post) {
      insertPost(sessionId, roundId, post);
    },
    finishRound(sessionId, round, error) {
      finishRound(sessionId, round, error);
    },
    listRounds(sessionId) {
      const posts = new Map<string, Post[]>();
      for (const row of statements.listPosts.all(sessionId) as { round_id: string; post_json: string }[]) {
        const list = posts.get(row.round_id) ?? [];
        list.push(PostSchema.parse(JSON.parse(row.post_json)));
        posts.set(row.round_id, list);
      }
      return (statements.listRounds.all(sessionId) as RoundRow[]).map((row) => ({
        id: row.id,
        user_query: row.user_query,
        state: row.state,
        post_list: posts.get(row.id) ?? [],
        error: row.error_json ? (JSON.parse(row.error_json) as { code: string; message: string }) : null,
        createdAt: row.created_at,
        finishedAt: row.finished_at,
      }));
    },
    appendEvent(sessionId, event) {
      const seq = lastEventSeq(sessionId) + 1;
      const roundId = "roundId" in event ? event.roundId : null;
      statements.insertEvent.run(
        sessionId,
        seq,
        event.type,
        roundId,
        JSON.stringify(event),
        now().toISOString(),
      );
      lastSeqBySession.set(sessionId, seq);
      return seq;
    },
    listEvents(sessionId, afterSeq) {
      return (statements.listEvents.all(sessionId, afterSeq) as { seq: number; event_json: string }[]).map(
        (row): StoredEvent => ({ seq: row.seq, event: JSON.parse(row.event_json) as TaskWeaverEvent }),
      );
    },
    lastEventSeq,
    failUnfinishedRounds(error, sessionId) {
      const timestamp = now().toISOString();
      const json = JSON.stringify(error);
      const result =
        sessionId === undefined
          ? statements.failAll.run(json, timestamp)
          : statements.failOne.run(json, timestamp, sessionId);
      return result.changes;
    },
    close() {
      if (database.open) database.close();
    },
  } satisfies SessionStore & { listRounds(sessionId: string): StoredRound[] };
}
