import type pg from "pg";

/** One schema change; applied once, in `version` order, recorded in `schema_migrations`. */
export interface PostgresMigration {
  version: number;
  name: string;
  /** SQL with `{schema}` standing for the quoted schema name. */
  sql: string;
}

export const POSTGRES_MIGRATIONS: PostgresMigration[] = [
  {
    version: 1,
    name: "sessions, rounds, posts and the event log",
    sql: `
CREATE TABLE {schema}.sessions (
  id text PRIMARY KEY,
  owner_key_hash text,
  created_at text NOT NULL,
  roles json NOT NULL,
  working_directory text NOT NULL,
  -- The last event sequence number handed out: appends lock this row, so numbers have no gaps.
  last_event_seq bigint NOT NULL DEFAULT 0,
  created_order bigint GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX sessions_by_owner ON {schema}.sessions (owner_key_hash, created_at, created_order);
CREATE TABLE {schema}.rounds (
  session_id text NOT NULL REFERENCES {schema}.sessions (id) ON DELETE CASCADE,
  id text NOT NULL,
  position integer NOT NULL,
  user_query text NOT NULL,
  state text NOT NULL,
  error json,
  created_at text NOT NULL,
  finished_at text,
  PRIMARY KEY (session_id, id)
);
CREATE TABLE {schema}.posts (
  session_id text NOT NULL,
  round_id text NOT NULL,
  id text NOT NULL,
  position integer NOT NULL,
  post json NOT NULL,
  PRIMARY KEY (session_id, round_id, id),
  FOREIGN KEY (session_id, round_id) REFERENCES {schema}.rounds (session_id, id) ON DELETE CASCADE
);
-- json, not jsonb: a replayed event is the text that was stored, key order included.
CREATE TABLE {schema}.events (
  session_id text NOT NULL REFERENCES {schema}.sessions (id) ON DELETE CASCADE,
  seq bigint NOT NULL,
  type text NOT NULL,
  round_id text,
  event json NOT NULL,
  created_at text NOT NULL,
  PRIMARY KEY (session_id, seq)
);`,
  },
  {
    version: 2,
    name: "round leases, session commands and the session's remote kernel",
    sql: `
ALTER TABLE {schema}.sessions ADD COLUMN kernel json;
CREATE TABLE {schema}.round_leases (
  session_id text PRIMARY KEY REFERENCES {schema}.sessions (id) ON DELETE CASCADE,
  instance_id text NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX round_leases_by_instance ON {schema}.round_leases (instance_id);
CREATE INDEX round_leases_by_expiry ON {schema}.round_leases (expires_at);
-- No foreign key: a 'delete' command must outlive the session it deletes.
CREATE TABLE {schema}.session_commands (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  session_id text NOT NULL,
  instance_id text NOT NULL,
  command text NOT NULL,
  sent_at timestamptz NOT NULL
);
CREATE INDEX session_commands_by_instance ON {schema}.session_commands (instance_id, id);`,
  },
  {
    version: 3,
    name: "approval requests of running rounds",
    sql: `
CREATE TABLE {schema}.approvals (
  session_id text NOT NULL REFERENCES {schema}.sessions (id) ON DELETE CASCADE,
  approval_id text NOT NULL,
  round_id text NOT NULL,
  state text NOT NULL,
  answer json,
  created_at text NOT NULL,
  PRIMARY KEY (session_id, approval_id)
);`,
  },
];

/** First key of the advisory lock that serialises migrations (the second is the schema's hash). */
const MIGRATION_LOCK_KEY = 0x7457_0001;

/**
 * Applies the missing migrations in one transaction under an advisory lock, so instances
 * starting at once migrate one after the other and the later ones find nothing to do.
 * Resolves the versions it applied.
 */
export async function applyPostgresMigrations(
  client: pg.ClientBase,
  schema: string,
  migrations: PostgresMigration[] = POSTGRES_MIGRATIONS,
): Promise<number[]> {
  const quoted = quoteIdentifier(schema);
  const applied: number[] = [];
  await client.query("BEGIN");
  try {
    // Another instance may be migrating: wait for it however long it takes, whatever the
    // pool's lock_timeout for ordinary statements.
    await client.query("SET LOCAL lock_timeout = 0");
    await client.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [MIGRATION_LOCK_KEY, schema]);
    // Only when missing: CREATE SCHEMA needs a privilege on the database that users of an
    // existing schema may lack, even with IF NOT EXISTS.
    const existing = await client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema]);
    if (existing.rowCount === 0) await client.query(`CREATE SCHEMA ${quoted}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${quoted}.schema_migrations (
         version integer PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${quoted}.schema_migrations`);
    const done = new Set(rows.map((row) => row.version));
    for (const migration of [...migrations].sort((left, right) => left.version - right.version)) {
      if (done.has(migration.version)) continue;
      await client.query(migration.sql.replaceAll("{schema}", quoted));
      await client.query(`INSERT INTO ${quoted}.schema_migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
      applied.push(migration.version);
    }
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
  return applied;
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
