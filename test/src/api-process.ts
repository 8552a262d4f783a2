/**
 * API instances as real processes (`node --import tsx apps/api/src/serve.ts`, what `pnpm serve`
 * runs), for tests and benchmarks of several instances on one PostgreSQL database, and a fresh
 * schema in that database for each test file.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import pg from "pg";
import { REPO_ROOT } from "./app-dir.js";
import { cleanEnvironment } from "./cli-process.js";

/** Options of {@link startApiProcess}. */
export interface ApiProcessOptions {
  /** App directory (taskweaver_config.json). */
  appDir: string;
  /** `--config key=value` pairs. */
  config?: Record<string, string | number | boolean>;
  /** Extra environment (e.g. `API_DATABASE_URL`). */
  env?: Record<string, string>;
  /** Give up when the server does not listen within this time. @default 60000 */
  startTimeoutMs?: number;
}

/** A running API process. */
export interface ApiProcess {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** The Node process serving the API. */
  readonly pid: number;
  readonly child: ChildProcess;
  /** Its stdout and stderr so far. */
  output(): string;
  /** `kill -9`: the process dies without any cleanup. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit (graceful shutdown); SIGKILL after `timeoutMs`. Idempotent. */
  stop(timeoutMs?: number): Promise<void>;
}

/** Starts `serve` on 127.0.0.1 with a free port. */
export async function startApiProcess(options: ApiProcessOptions): Promise<ApiProcess> {
  const config = Object.entries(options.config ?? {}).flatMap(([key, value]) => ["--config", `${key}=${String(value)}`]);
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      join(REPO_ROOT, "apps/api/src/serve.ts"),
      "-p",
      options.appDir,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      ...config,
    ],
    {
      cwd: REPO_ROOT,
      env: cleanEnvironment({ TASKWEAVER_API_KEYS: "", ...options.env }),
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  let url: string | undefined;
  while (url === undefined) {
    url = /listening on (http:\/\/\S+)/.exec(output)?.[1];
    if (url) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`The API process did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  let stopping: Promise<void> | undefined;
  return {
    url,
    pid: child.pid!,
    child,
    output: () => output,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
    stop(timeoutMs = 20_000) {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

/** A schema of its own in the test database, dropped by `drop()`. */
export interface TestDatabaseSchema {
  readonly url: string;
  readonly schema: string;
  drop(): Promise<void>;
}

/**
 * Why PostgreSQL cannot be used (`TASKWEAVER_TEST_DATABASE_URL` unset or not answering), or
 * `undefined` when it can.
 */
export async function testDatabaseUnavailableReason(
  url = process.env.TASKWEAVER_TEST_DATABASE_URL,
): Promise<string | undefined> {
  const howTo = 'start one with: eval "$(bash scripts/postgres.sh)"';
  if (!url) return `TASKWEAVER_TEST_DATABASE_URL is not set; ${howTo}`;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return undefined;
  } catch (error) {
    return `PostgreSQL does not answer (${error instanceof Error ? error.message : String(error)}); ${howTo}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A fresh schema name in the test database; the API creates it at start (`api.database_schema`). */
export function createTestDatabaseSchema(
  prefix: string,
  url = process.env.TASKWEAVER_TEST_DATABASE_URL!,
): TestDatabaseSchema {
  const schema = `${prefix}_${randomBytes(4).toString("hex")}`;
  return {
    url,
    schema,
    async drop() {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}
