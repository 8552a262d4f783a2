import type { Post, Round, TaskWeaverEvent } from "@taskweaver/core";

/** Where a session's kernel lives when it runs on a Jupyter server (kernel mode `remote`). */
export interface SessionKernel {
  /** Base URL of the Jupyter server or gateway. */
  serverUrl: string;
  /** The kernel's id on that server. */
  kernelId: string;
}

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
  /**
   * The session's remote kernel, so a later round on another instance (or after a restart)
   * reuses it. Absent for local and container kernels, and before the first remote start.
   */
  kernel?: SessionKernel;
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

/** Why a round failed, as stored with it. */
export interface RoundFailure {
  code: string;
  message: string;
}

/** Who runs a session's round: one instance holds the lease until it releases it or it expires. */
export interface RoundLease {
  sessionId: string;
  /** The instance holding the lease (each API process picks a unique id when it starts). */
  instanceId: string;
  /** When the lease lapses unless renewed. */
  expiresAt: Date;
}

/** What one instance can ask the instance running a session's round to do. */
export type SessionCommandName = "interrupt" | "delete";

/** A command as delivered to the instance it was sent to. */
export interface SessionCommand {
  sessionId: string;
  command: SessionCommandName;
  /** The instance it was addressed to (the lease holder when it was sent). */
  instanceId: string;
  sentAt: Date;
}

/** A decision on code waiting for approval, as a client sent it. */
export type ApprovalAnswer =
  | { decision: "approve"; code?: string }
  | { decision: "reject"; reason?: string };

/**
 * An approval request of a running round, as stored so that any instance can answer it:
 * `pending` until answered (`answered`, with the answer) or given up on by the round
 * (`closed`: it timed out or the round stopped).
 */
export interface StoredApproval {
  sessionId: string;
  approvalId: string;
  roundId: string;
  state: "pending" | "answered" | "closed";
  answer?: ApprovalAnswer;
}

/** What {@link SessionStore.answerApproval} did: `unknown` when no such approval was opened. */
export type AnswerApprovalResult = "answered" | "already_answered" | "closed" | "unknown";

/** Options of {@link SessionStore.waitForEvents}. */
export interface WaitForEventsOptions {
  /** Stops waiting (the promise then resolves `false`). */
  signal?: AbortSignal;
  /** Gives up after this long (the promise then resolves `false`). @default 30000 */
  timeoutMs?: number;
}

/** Stops a subscription made with {@link SessionStore.onCommand}. */
export type Unsubscribe = () => Promise<void>;

/**
 * Where the API keeps sessions, rounds, posts and the event log, and what several API instances
 * sharing one database coordinate through (round leases, the event wake-up, commands).
 *
 * Every method is asynchronous. Writes for one session are applied in the order they were
 * called on one store object, even when the caller does not wait for each promise (the API
 * records events from a synchronous listener); a read waits for the writes to that session
 * called before it on the same object. A database that cannot be reached rejects with
 * `StoreUnavailableError` (code `store_unavailable`); nothing already committed is lost.
 */
export interface SessionStore {
  /** Stores a new session; rejects when the id exists. */
  createSession(record: SessionRecord): Promise<void>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  /** Sessions of one owner, oldest first; `undefined` lists every session. */
  listSessions(ownerKeyHash?: string | null): Promise<SessionRecord[]>;
  /**
   * Removes the session and everything stored for it (rounds, posts, events, its lease);
   * false when it did not exist. Commands already sent for it stay deliverable.
   */
  deleteSession(id: string): Promise<boolean>;
  /** Records or clears (`null`) the session's remote kernel. */
  setSessionKernel(sessionId: string, kernel: SessionKernel | null): Promise<void>;
  /** Records a round that has just started (state `created`); a known round id is ignored. */
  startRound(sessionId: string, round: { id: string; userQuery: string }): Promise<void>;
  /** Stores (or replaces) one post of a running round. */
  savePost(sessionId: string, roundId: string, post: Post): Promise<void>;
  /** Stores the final form of a round, replacing its posts with the round's own list. */
  finishRound(sessionId: string, round: Round, error?: RoundFailure): Promise<void>;
  /** The session's rounds in the order they started, with their posts. */
  listRounds(sessionId: string): Promise<StoredRound[]>;
  /**
   * Appends an event and resolves its sequence number: per session from 1, without gaps or
   * duplicates even when several store objects (instances) append at once.
   */
  appendEvent(sessionId: string, event: TaskWeaverEvent): Promise<number>;
  /** Events with `seq > afterSeq`, in order. */
  listEvents(sessionId: string, afterSeq: number): Promise<StoredEvent[]>;
  /** Highest event sequence number of the session, 0 when none. */
  lastEventSeq(sessionId: string): Promise<number>;
  /**
   * Resolves `true` as soon as the session has an event with `seq > afterSeq` (at once when it
   * already has one), whichever store object appended it; `false` on timeout or abort.
   * Appends through this store object wake it at once, appends elsewhere through the database's
   * notification (PostgreSQL) or by polling, so it keeps working where notifications are lost.
   */
  waitForEvents(sessionId: string, afterSeq: number, options?: WaitForEventsOptions): Promise<boolean>;
  /**
   * Marks every round still `created` as failed (after a crash or an unclean shutdown), of one
   * session or of all. Resolves the number of rounds changed.
   */
  failUnfinishedRounds(error: RoundFailure, sessionId?: string): Promise<number>;
  /**
   * Like {@link failUnfinishedRounds} for every session, except those whose round lease is
   * still valid at `now` (their round runs on a live instance). What an instance calls at
   * start when it shares the database with others.
   */
  failRoundsWithoutLease(error: RoundFailure, now: Date): Promise<number>;
  /**
   * Takes the session's round lease for `ttlMs` when nobody holds it or the holder's lease has
   * expired; resolves whether it was taken. A holder asking again gets `false` (one round per
   * session). After taking over an expired lease, the new holder should fail the rounds the lost
   * holder left unfinished (`failUnfinishedRounds(error, sessionId)`).
   */
  acquireRoundLease(sessionId: string, instanceId: string, ttlMs: number): Promise<boolean>;
  /**
   * Extends every unexpired lease of the instance by `ttlMs` from now (the heartbeat). Resolves
   * the session ids still held: a running round whose session is missing has lost its lease.
   */
  renewLeases(instanceId: string, ttlMs: number): Promise<string[]>;
  /** Gives the lease back; false when the instance did not hold it. */
  releaseRoundLease(sessionId: string, instanceId: string): Promise<boolean>;
  /** The session's current lease (expired or not), if any. */
  getRoundLease(sessionId: string): Promise<RoundLease | undefined>;
  /** Leases that expired at or before `now`, oldest first: rounds whose instance was lost. */
  listExpiredLeases(now: Date): Promise<RoundLease[]>;
  /**
   * Sends a command to the instance holding the session's round lease. Resolves that instance's
   * id, or `undefined` when no instance holds a valid lease (nothing runs elsewhere).
   * Each command is delivered once, to the first `onCommand` subscriber of that instance.
   */
  sendCommand(sessionId: string, command: SessionCommandName): Promise<string | undefined>;
  /**
   * Calls `handler` with every command sent to `instanceId` (also those sent before the
   * subscription, while the instance held a lease), in the order they were sent.
   */
  onCommand(instanceId: string, handler: (command: SessionCommand) => void): Promise<Unsubscribe>;
  /**
   * Records an approval request of a running round as `pending` (a known id is ignored). Called
   * before the request's event is appended, so whoever sees the event can answer it.
   */
  openApproval(sessionId: string, approval: { approvalId: string; roundId: string }): Promise<void>;
  /**
   * Stores the answer of a `pending` approval, atomically: of several answers at once (from any
   * store object) exactly one is `answered`; the others get `already_answered`, or `closed`
   * when the round gave up waiting first.
   */
  answerApproval(sessionId: string, approvalId: string, answer: ApprovalAnswer): Promise<AnswerApprovalResult>;
  /** The approval as stored, if it was opened. */
  readApproval(sessionId: string, approvalId: string): Promise<StoredApproval | undefined>;
  /** Marks a `pending` approval `closed` (the round stopped waiting); an answered one stays answered. */
  closeApproval(sessionId: string, approvalId: string): Promise<void>;
  /** Checks that the database answers (for readiness probes); rejects otherwise. */
  ping(): Promise<void>;
  /** Waits for the pending writes, then closes the database connections. */
  close(): Promise<void>;
}
