import pg from "pg";
import { PostSchema, type Post, type TaskWeaverEvent } from "@taskweaver/core";
import { applyPostgresMigrations, quoteIdentifier } from "./internal/postgres-migrations.js";
import { createWakeUps, subscribeToCommands, waitUntilNewer } from "./internal/wake-ups.js";
import { createWriteQueue } from "./internal/write-queue.js";
import type {
  ApprovalAnswer,
  StoredApproval,
  RoundFailure,
  RoundLease,
  SessionCommand,
  SessionCommandName,
  SessionKernel,
  SessionRecord,
  SessionStore,
  StoredEvent,
  StoredRound,
} from "./session-store.js";
import { StoreUnavailableError, maskDatabaseUrl } from "./store-errors.js";

/** Options of {@link createPostgresSessionStore}. */
export interface PostgresSessionStoreOptions {
  /** Connection URL, e.g. `postgres://user:password@127.0.0.1:5432/taskweaver`. */
  url: string;
  /**
   * Schema holding the tables; created when missing. Lets several deployments (or test runs)
   * share one database.
   * @default "public"
   */
  schema?: string;
  /** Size of the connection pool. @default 10 */
  maxConnections?: number;
  /** How long to wait for a connection before `store_unavailable`. @default 5000 */
  connectTimeoutMs?: number;
  /**
   * How long a statement waits for a lock another connection holds (PostgreSQL's
   * `lock_timeout`) before `store_unavailable`, so a table locked by someone else fails callers
   * with a reason instead of holding them for as long as the lock lasts. `0` waits forever.
   * @default 5000
   */
  lockTimeoutMs?: number;
  /**
   * Wake waiters through LISTEN/NOTIFY. Turn off behind a pooler that drops notifications
   * (PgBouncer in transaction mode); waiters then rely on polling alone.
   * @default true
   */
  listen?: boolean;
  /** How often `waitForEvents` and `onCommand` poll the database. @default 500 */
  pollIntervalMs?: number;
  /** Clock for timestamps and leases; instances sharing a database need synchronised clocks. @default () => new Date() */
  now?: () => Date;
}

const EVENTS_CHANNEL = "taskweaver_events";
const COMMANDS_CHANNEL = "taskweaver_commands";

// Connection-level failures: pg's own messages, socket errors, SQLSTATE class 08 and the
// server's shutdown, start-up, connection-limit, login and missing-database codes.
const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "57P01",
  "57P02",
  "57P03",
  "53300",
  "28000",
  "28P01",
  "3D000",
]);
const UNAVAILABLE_MESSAGES =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable|Cannot use a pool after calling end/i;

function isUnavailable(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  if (error instanceof AggregateError) return error.errors.some(isUnavailable);
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && (UNAVAILABLE_CODES.has(code) || code.startsWith("08"))) return true;
  return error instanceof Error && UNAVAILABLE_MESSAGES.test(error.message);
}

// Failures of the server rather than of the connection, by SQLSTATE: what each means to the
// operator. The statement was rolled back; what was committed before stays.
const SERVER_FAULTS = new Map<string, string>([
  ["55P03", "a lock held by another connection did not come free within {lock}: end that transaction or wait for it"],
  ["53100", "the disk under the database server is full: free space there"],
  ["53200", "the database server is out of memory"],
  ["25006", "it only takes reads (a standby, or default_transaction_read_only): point the API at the primary"],
  ["57014", "the server cancelled the statement (statement_timeout or an administrator)"],
]);

function serverFault(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? SERVER_FAULTS.get(code) : undefined;
}

function describeCause(error: unknown): string {
  if (error instanceof AggregateError) {
    return error.errors.map(describeCause).join("; ") || error.message;
  }
  if (error instanceof Error) return error.message || String((error as { code?: unknown }).code ?? error.name);
  return String(error);
}

interface SessionRow {
  id: string;
  owner_key_hash: string | null;
  created_at: string;
  roles: string[];
  working_directory: string;
  kernel: SessionKernel | null;
}

interface ApprovalRow {
  session_id: string;
  approval_id: string;
  round_id: string;
  state: StoredApproval["state"];
  answer: ApprovalAnswer | null;
}

function toApproval(row: ApprovalRow): StoredApproval {
  const approval: StoredApproval = {
    sessionId: row.session_id,
    approvalId: row.approval_id,
    roundId: row.round_id,
    state: row.state,
  };
  if (row.answer !== null) approval.answer = row.answer;
  return approval;
}

interface LeaseRow {
  session_id: string;
  instance_id: string;
  expires_at: Date;
}

function toRecord(row: SessionRow): SessionRecord {
  const record: SessionRecord = {
    id: row.id,
    ownerKeyHash: row.owner_key_hash,
    createdAt: row.created_at,
    roles: row.roles,
    workingDirectory: row.working_directory,
  };
  if (row.kernel !== null) record.kernel = row.kernel;
  return record;
}

function toLease(row: LeaseRow): RoundLease {
  return { sessionId: row.session_id, instanceId: row.instance_id, expiresAt: row.expires_at };
}

/**
 * The PostgreSQL {@link SessionStore}, for several API instances on one database. Opens a pool,
 * applies the missing schema migrations (serialised between instances by an advisory lock) and
 * resolves the store; rejects with `StoreUnavailableError` when the database cannot be reached.
 *
 * Event numbers come from a counter on the session row, incremented in the statement that
 * inserts the event: concurrent appends from any instance wait for each other on that row and
 * only committed appends use a number. LISTEN/NOTIFY wakes waiters on other instances; polling
 * backs it up.
 */
export async function createPostgresSessionStore(options: PostgresSessionStoreOptions): Promise<SessionStore> {
  const now = options.now ?? (() => new Date());
  const schema = options.schema ?? "public";
  const pollIntervalMs = options.pollIntervalMs ?? 500;
  const maskedUrl = maskDatabaseUrl(options.url);
  const connection: pg.ClientConfig = {
    connectionString: options.url,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    keepAlive: true,
    application_name: "taskweaver-api",
  };
  const lockTimeoutMs = options.lockTimeoutMs ?? 5_000;
  // The listener only waits for notifications; the pool's statements are the ones that lock.
  const pool = new pg.Pool({
    ...connection,
    ...(lockTimeoutMs > 0 ? { lock_timeout: lockTimeoutMs } : {}),
    max: options.maxConnections ?? 10,
    idleTimeoutMillis: 30_000,
  });
  // An idle connection that dies emits here; without a listener it would crash the process.
  // The next query gets a fresh connection, or a store_unavailable error.
  pool.on("error", () => undefined);

  const unavailable = (error: unknown): StoreUnavailableError =>
    new StoreUnavailableError(`Cannot reach the session database at ${maskedUrl}: ${describeCause(error)}`, {
      url: maskedUrl,
      cause: error,
    });
  const translate = (error: unknown): unknown => {
    if (isUnavailable(error)) return unavailable(error);
    const fault = serverFault(error);
    if (fault === undefined) return error;
    const explanation = fault.replace("{lock}", `${lockTimeoutMs / 1000} s`);
    return new StoreUnavailableError(
      `The session database at ${maskedUrl} cannot be used: ${explanation} (${describeCause(error)}). Rounds committed before are kept.`,
      { url: maskedUrl, cause: error },
    );
  };

  try {
    const client = await pool.connect();
    try {
      await applyPostgresMigrations(client, schema);
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw translate(error);
  }

  const table = (name: string) => `${quoteIdentifier(schema)}.${name}`;
  const sessions = table("sessions");
  const rounds = table("rounds");
  const posts = table("posts");
  const events = table("events");
  const leases = table("round_leases");
  const commands = table("session_commands");
  const approvals = table("approvals");

  const query = async <Row extends pg.QueryResultRow>(text: string, values: unknown[] = []) => {
    try {
      return await pool.query<Row>(text, values);
    } catch (error) {
      throw translate(error);
    }
  };
  const transaction = async (work: (client: pg.PoolClient) => Promise<void>): Promise<void> => {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw translate(error);
    }
    let broken = false;
    try {
      await client.query("BEGIN");
      await work(client);
      await client.query("COMMIT");
    } catch (error) {
      broken = isUnavailable(error);
      if (!broken) await client.query("ROLLBACK").catch(() => undefined);
      throw translate(error);
    } finally {
      client.release(broken);
    }
  };

  const queue = createWriteQueue();
  const wakeUps = createWakeUps();
  const closing = new AbortController();

  let listener: pg.Client | undefined;
  let listenerStarting: Promise<void> | undefined;
  const ensureListener = () => {
    if (options.listen === false || closing.signal.aborted || listener || listenerStarting) return;
    const client = new pg.Client(connection);
    const drop = () => {
      if (listener === client) listener = undefined;
    };
    client.on("error", drop);
    client.on("end", drop);
    client.on("notification", (message) => {
      const prefix = `${schema}:`;
      if (!message.payload?.startsWith(prefix)) return;
      const key = message.payload.slice(prefix.length);
      if (message.channel === EVENTS_CHANNEL) wakeUps.wake(`event:${key}`);
      else if (message.channel === COMMANDS_CHANNEL) wakeUps.wake(`command:${key}`);
    });
    listenerStarting = (async () => {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_CHANNEL}; LISTEN ${COMMANDS_CHANNEL}`);
      if (closing.signal.aborted) await client.end();
      else listener = client;
    })()
      // Without the listener, waiters still poll.
      .catch(() => client.end().catch(() => undefined))
      .finally(() => {
        listenerStarting = undefined;
      });
  };

  const lastEventSeq = async (sessionId: string): Promise<number> => {
    const { rows } = await query<{ seq: string }>(`SELECT last_event_seq AS seq FROM ${sessions} WHERE id = $1`, [
      sessionId,
    ]);
    return rows[0] ? Number(rows[0].seq) : 0;
  };

  const upsertPost = (sessionId: string, roundId: string, post: Post): { text: string; values: unknown[] } => ({
    text: `INSERT INTO ${posts} (session_id, round_id, id, position, post)
       SELECT $1, $2, $3, COALESCE(MAX(position), 0) + 1, $4 FROM ${posts} WHERE session_id = $1 AND round_id = $2
       ON CONFLICT (session_id, round_id, id) DO UPDATE SET post = excluded.post`,
    values: [sessionId, roundId, post.id, JSON.stringify(post)],
  });

  const failRounds = async (error: RoundFailure, sessionId?: string) => {
    const values: unknown[] = [JSON.stringify(error), now().toISOString()];
    let filter = "";
    if (sessionId !== undefined) {
      values.push(sessionId);
      filter = " AND session_id = $3";
    }
    const result = await query(
      `UPDATE ${rounds} SET state = 'failed', error = $1, finished_at = $2 WHERE state = 'created'${filter}`,
      values,
    );
    return result.rowCount ?? 0;
  };

  const store: SessionStore = {
    createSession(record) {
      return queue.write(record.id, async () => {
        await query(
          `INSERT INTO ${sessions} (id, owner_key_hash, created_at, roles, working_directory, kernel)
           VALUES ($1, $2, $3, $4, $5, $6)`,
          [
            record.id,
            record.ownerKeyHash,
            record.createdAt,
            JSON.stringify(record.roles),
            record.workingDirectory,
            record.kernel ? JSON.stringify(record.kernel) : null,
          ],
        );
      });
    },
    getSession(id) {
      return queue.read(id, async () => {
        const { rows } = await query<SessionRow>(`SELECT * FROM ${sessions} WHERE id = $1`, [id]);
        return rows[0] ? toRecord(rows[0]) : undefined;
      });
    },
    async listSessions(ownerKeyHash) {
      const { rows } =
        ownerKeyHash === undefined
          ? await query<SessionRow>(`SELECT * FROM ${sessions} ORDER BY created_at, created_order`)
          : await query<SessionRow>(
              `SELECT * FROM ${sessions} WHERE owner_key_hash IS NOT DISTINCT FROM $1 ORDER BY created_at, created_order`,
              [ownerKeyHash],
            );
      return rows.map(toRecord);
    },
    deleteSession(id) {
      return queue.write(id, async () => {
        const result = await query(`DELETE FROM ${sessions} WHERE id = $1`, [id]);
        return (result.rowCount ?? 0) > 0;
      });
    },
    setSessionKernel(sessionId, kernel) {
      return queue.write(sessionId, async () => {
        await query(`UPDATE ${sessions} SET kernel = $2 WHERE id = $1`, [
          sessionId,
          kernel ? JSON.stringify(kernel) : null,
        ]);
      });
    },
    startRound(sessionId, round) {
      return queue.write(sessionId, async () => {
        await query(
          `INSERT INTO ${rounds} (session_id, id, position, user_query, state, created_at)
           SELECT $1, $2, COALESCE(MAX(position), 0) + 1, $3, 'created', $4 FROM ${rounds} WHERE session_id = $1
           ON CONFLICT (session_id, id) DO NOTHING`,
          [sessionId, round.id, round.userQuery, now().toISOString()],
        );
      });
    },
    savePost(sessionId, roundId, post) {
      return queue.write(sessionId, async () => {
        const statement = upsertPost(sessionId, roundId, post);
        await query(statement.text, statement.values);
      });
    },
    finishRound(sessionId, round, error) {
      return queue.write(sessionId, () =>
        transaction(async (client) => {
          const timestamp = now().toISOString();
          await client.query(
            `INSERT INTO ${rounds} (session_id, id, position, user_query, state, created_at)
             SELECT $1, $2, COALESCE(MAX(position), 0) + 1, $3, 'created', $4 FROM ${rounds} WHERE session_id = $1
             ON CONFLICT (session_id, id) DO NOTHING`,
            [sessionId, round.id, round.user_query, timestamp],
          );
          await client.query(
            `UPDATE ${rounds} SET user_query = $3, state = $4, error = $5, finished_at = $6 WHERE session_id = $1 AND id = $2`,
            [
              sessionId,
              round.id,
              round.user_query,
              round.state === "created" ? "failed" : round.state,
              error ? JSON.stringify(error) : null,
              timestamp,
            ],
          );
          await client.query(`DELETE FROM ${posts} WHERE session_id = $1 AND round_id = $2`, [sessionId, round.id]);
          for (const post of round.post_list) {
            const statement = upsertPost(sessionId, round.id, post);
            await client.query(statement.text, statement.values);
          }
        }),
      );
    },
    listRounds(sessionId) {
      return queue.read(sessionId, async () => {
        // One statement, so rounds and posts come from one snapshot.
        const { rows } = await query<{
          id: string;
          user_query: string;
          state: StoredRound["state"];
          error: RoundFailure | null;
          created_at: string;
          finished_at: string | null;
          posts: unknown[];
        }>(
          `SELECT r.id, r.user_query, r.state, r.error, r.created_at, r.finished_at,
             COALESCE((SELECT json_agg(p.post ORDER BY p.position) FROM ${posts} p
                       WHERE p.session_id = r.session_id AND p.round_id = r.id), '[]'::json) AS posts
           FROM ${rounds} r WHERE r.session_id = $1 ORDER BY r.position`,
          [sessionId],
        );
        return rows.map(
          (row): StoredRound => ({
            id: row.id,
            user_query: row.user_query,
            state: row.state,
            post_list: row.posts.map((post) => PostSchema.parse(post)),
            error: row.error,
            createdAt: row.created_at,
            finishedAt: row.finished_at,
          }),
        );
      });
    },
    appendEvent(sessionId, event) {
      return queue.write(sessionId, async () => {
        const roundId = "roundId" in event ? event.roundId : null;
        // A missing session leaves seq 0, which the foreign key then rejects.
        const { rows } = await query<{ seq: string }>(
          `WITH next AS (
             UPDATE ${sessions} SET last_event_seq = last_event_seq + 1 WHERE id = $1 RETURNING last_event_seq
           ), inserted AS (
             INSERT INTO ${events} (session_id, seq, type, round_id, event, created_at)
             SELECT $1, COALESCE((SELECT last_event_seq FROM next), 0), $2, $3, $4, $5
             RETURNING seq
           )
           SELECT seq, pg_notify('${EVENTS_CHANNEL}', $6) FROM inserted`,
          [sessionId, event.type, roundId, JSON.stringify(event), now().toISOString(), `${schema}:${sessionId}`],
        );
        wakeUps.wake(`event:${sessionId}`);
        return Number(rows[0]!.seq);
      });
    },
    listEvents(sessionId, afterSeq) {
      return queue.read(sessionId, async () => {
        const { rows } = await query<{ seq: string; event: TaskWeaverEvent }>(
          `SELECT seq, event FROM ${events} WHERE session_id = $1 AND seq > $2 ORDER BY seq`,
          [sessionId, afterSeq],
        );
        return rows.map((row): StoredEvent => ({ seq: Number(row.seq), event: row.event }));
      });
    },
    lastEventSeq(sessionId) {
      return queue.read(sessionId, () => lastEventSeq(sessionId));
    },
    waitForEvents(sessionId, afterSeq, waitOptions = {}) {
      ensureListener();
      return waitUntilNewer({
        key: `event:${sessionId}`,
        afterSeq,
        latest: () => lastEventSeq(sessionId),
        wakeUps,
        pollIntervalMs,
        timeoutMs: waitOptions.timeoutMs ?? 30_000,
        signal: waitOptions.signal,
        closed: closing.signal,
      });
    },
    failUnfinishedRounds(error, sessionId) {
      return sessionId === undefined ? failRounds(error) : queue.write(sessionId, () => failRounds(error, sessionId));
    },
    async failRoundsWithoutLease(error, at) {
      const result = await query(
        `UPDATE ${rounds} SET state = 'failed', error = $1, finished_at = $2
         WHERE state = 'created'
           AND NOT EXISTS (SELECT 1 FROM ${leases} l WHERE l.session_id = ${rounds}.session_id AND l.expires_at > $3)`,
        [JSON.stringify(error), now().toISOString(), at],
      );
      return result.rowCount ?? 0;
    },
    async acquireRoundLease(sessionId, instanceId, ttlMs) {
      const at = now();
      const result = await query(
        `INSERT INTO ${leases} (session_id, instance_id, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (session_id) DO UPDATE SET instance_id = excluded.instance_id, expires_at = excluded.expires_at
         WHERE ${leases}.expires_at <= $4`,
        [sessionId, instanceId, new Date(at.getTime() + ttlMs), at],
      );
      return (result.rowCount ?? 0) > 0;
    },
    async renewLeases(instanceId, ttlMs) {
      const at = now();
      const { rows } = await query<{ session_id: string }>(
        `UPDATE ${leases} SET expires_at = $2 WHERE instance_id = $1 AND expires_at > $3 RETURNING session_id`,
        [instanceId, new Date(at.getTime() + ttlMs), at],
      );
      return rows.map((row) => row.session_id).sort();
    },
    async releaseRoundLease(sessionId, instanceId) {
      const result = await query(`DELETE FROM ${leases} WHERE session_id = $1 AND instance_id = $2`, [
        sessionId,
        instanceId,
      ]);
      return (result.rowCount ?? 0) > 0;
    },
    async getRoundLease(sessionId) {
      const { rows } = await query<LeaseRow>(`SELECT * FROM ${leases} WHERE session_id = $1`, [sessionId]);
      return rows[0] ? toLease(rows[0]) : undefined;
    },
    async listExpiredLeases(at) {
      const { rows } = await query<LeaseRow>(
        `SELECT * FROM ${leases} WHERE expires_at <= $1 ORDER BY expires_at, session_id`,
        [at],
      );
      return rows.map(toLease);
    },
    async sendCommand(sessionId, command: SessionCommandName) {
      const at = now();
      const { rows } = await query<{ instance_id: string }>(
        `WITH inserted AS (
           INSERT INTO ${commands} (session_id, instance_id, command, sent_at)
           SELECT session_id, instance_id, $2, $3 FROM ${leases} WHERE session_id = $1 AND expires_at > $3
           RETURNING instance_id
         )
         SELECT instance_id, pg_notify('${COMMANDS_CHANNEL}', $4 || instance_id) FROM inserted`,
        [sessionId, command, at, `${schema}:`],
      );
      const instanceId = rows[0]?.instance_id;
      if (instanceId !== undefined) wakeUps.wake(`command:${instanceId}`);
      return instanceId;
    },
    async onCommand(instanceId, handler) {
      ensureListener();
      return subscribeToCommands({
        instanceId,
        claim: async () => {
          const { rows } = await query<{
            id: string;
            session_id: string;
            instance_id: string;
            command: SessionCommandName;
            sent_at: Date;
          }>(`DELETE FROM ${commands} WHERE instance_id = $1 RETURNING *`, [instanceId]);
          return rows
            .sort((left, right) => Number(left.id) - Number(right.id))
            .map(
              (row): SessionCommand => ({
                sessionId: row.session_id,
                command: row.command,
                instanceId: row.instance_id,
                sentAt: row.sent_at,
              }),
            );
        },
        handler,
        wakeUps: { wake: wakeUps.wake, listen: (key, listener) => wakeUps.listen(`command:${key}`, listener) },
        pollIntervalMs,
        closed: closing.signal,
      });
    },
    openApproval(sessionId, approval) {
      return queue.write(sessionId, async () => {
        await query(
          `INSERT INTO ${approvals} (session_id, approval_id, round_id, state, created_at)
           VALUES ($1, $2, $3, 'pending', $4) ON CONFLICT (session_id, approval_id) DO NOTHING`,
          [sessionId, approval.approvalId, approval.roundId, now().toISOString()],
        );
      });
    },
    answerApproval(sessionId, approvalId, answer) {
      return queue.write(sessionId, async () => {
        // Conditional on `pending`: the row lock makes concurrent answers wait, and the later ones change nothing.
        const updated = await query(
          `UPDATE ${approvals} SET state = 'answered', answer = $3
           WHERE session_id = $1 AND approval_id = $2 AND state = 'pending'`,
          [sessionId, approvalId, JSON.stringify(answer)],
        );
        if ((updated.rowCount ?? 0) > 0) return "answered" as const;
        const { rows } = await query<{ state: string }>(
          `SELECT state FROM ${approvals} WHERE session_id = $1 AND approval_id = $2`,
          [sessionId, approvalId],
        );
        if (!rows[0]) return "unknown" as const;
        return rows[0].state === "closed" ? ("closed" as const) : ("already_answered" as const);
      });
    },
    readApproval(sessionId, approvalId) {
      return queue.read(sessionId, async () => {
        const { rows } = await query<ApprovalRow>(
          `SELECT * FROM ${approvals} WHERE session_id = $1 AND approval_id = $2`,
          [sessionId, approvalId],
        );
        return rows[0] ? toApproval(rows[0]) : undefined;
      });
    },
    closeApproval(sessionId, approvalId) {
      return queue.write(sessionId, async () => {
        await query(
          `UPDATE ${approvals} SET state = 'closed' WHERE session_id = $1 AND approval_id = $2 AND state = 'pending'`,
          [sessionId, approvalId],
        );
      });
    },
    async ping() {
      await query("SELECT 1");
    },
    async close() {
      if (closing.signal.aborted) return;
      closing.abort();
      await queue.drain();
      await listenerStarting;
      await listener?.end().catch(() => undefined);
      await pool.end();
    },
  };
  return store;
}
