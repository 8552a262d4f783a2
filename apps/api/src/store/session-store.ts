import type { Post, Round, TaskWeaverEvent } from "@taskweaver/core";

/** A session as the API remembers it, across restarts. */
export interface SessionRecord {
  id: string;
  /** SHA-256 (hex) of the API key that created the session; `null` when the API ran without keys. */
  ownerKeyHash: string | null;
  /** ISO 8601 timestamp. */
  createdAt: string;
  roles: string[];
  /** Host path of the session's working directory. */
  workingDirectory: string;
}

/** A round as stored: the core `Round` plus what the API adds. */
export interface StoredRound extends Round {
  /** Why the round failed, when it did. */
  error: { code: string; message: string } | null;
  createdAt: string;
  finishedAt: string | null;
}

/** One event of the session's event log; `seq` is the SSE event id. */
export interface StoredEvent {
  seq: number;
  event: TaskWeaverEvent;
}

/**
 * Where the API keeps sessions, rounds, posts and the event log. Synchronous on purpose:
 * the SQLite implementation is, and it keeps the order of events and rows trivially correct.
 */
export interface SessionStore {
  createSession(record: SessionRecord): void;
  getSession(id: string): SessionRecord | undefined;
  /** Sessions of one owner, oldest first; `undefined` lists every session. */
  listSessions(ownerKeyHash?: string | null): SessionRecord[];
  /** Removes the session and everything stored for it; false when it did not exist. */
  deleteSession(id: string): boolean;
  /** Records a round that has just started (state `created`). */
  startRound(sessionId: string, round: { id: string; userQuery: string }): void;
  /** Stores (or replaces) one post of a running round. */
  savePost(sessionId: string, roundId: string, post: Post): void;
  /** Stores the final form of a round, replacing its posts with the round's own list. */
  finishRound(sessionId: string, round: Round, error?: { code: string; message: string }): void;
  listRounds(sessionId: string): StoredRound[];
  /** Appends an event and returns its sequence number (monotonic per session, from 1). */
  appendEvent(sessionId: string, event: TaskWeaverEvent): number;
  /** Events with `seq > afterSeq`, in order. */
  listEvents(sessionId: string, afterSeq: number): StoredEvent[];
  /** Highest event sequence number of the session, 0 when none. */
  lastEventSeq(sessionId: string): number;
  /**
   * Marks every round still `created` as failed (after a crash or an unclean shutdown).
   * Returns the number of rounds changed.
   */
  failUnfinishedRounds(error: { code: string; message: string }, sessionId?: string): number;
  close(): void;
}
