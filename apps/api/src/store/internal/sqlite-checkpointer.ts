import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";

/** Options of {@link startSqliteCheckpointer}. */
export interface SqliteCheckpointerOptions {
  /** The database file (WAL mode). */
  path: string;
  /** How often the worker copies the log into the database file. @default 1000 */
  intervalMs?: number;
  /** Told once when the worker fails; the store then checkpoints on its own thread again. */
  onError?: (error: Error) => void;
}

/** A running checkpoint worker. */
export interface SqliteCheckpointer {
  /** Stops the worker after its current checkpoint; resolves when it has ended. Idempotent. */
  stop(): Promise<void>;
}

/** SQLite's default: a checkpoint once the write-ahead log holds this many pages. */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

// Runs in the worker: its own connection, a PASSIVE checkpoint per tick (it never waits for the
// writer or for readers), and a last one when told to stop.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const database = new Database(workerData.path);
database.pragma("busy_timeout = 5000");
const checkpoint = () => database.pragma("wal_checkpoint(PASSIVE)");
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on("message", (message) => {
  if (message !== "stop") return;
  clearInterval(timer);
  try { checkpoint(); } finally { database.close(); parentPort.close(); }
});
`;

/**
 * Moves the write-ahead log's checkpoints off the event loop. A checkpoint copies the log into
 * the database file and syncs it to disk; run by the connection that commits (SQLite's default,
 * every 1000 pages), it blocks the API's only thread for as long as the disk takes, which under
 * another process's I/O was most of a second, every round of every session waiting behind it.
 * A worker thread with its own connection checkpoints instead, once a second; the store's
 * commits only append to the log (`synchronous = NORMAL`: durable across process crashes).
 * When the worker cannot run, the store checkpoints on its own thread as before.
 */
export function startSqliteCheckpointer(
  database: Database.Database,
  options: SqliteCheckpointerOptions,
): SqliteCheckpointer {
  const restoreAutoCheckpoint = () => {
    if (database.open) database.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
  };
  let worker: Worker;
  try {
    worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        path: options.path,
        intervalMs: options.intervalMs ?? 1_000,
        driver: createRequire(import.meta.url).resolve("better-sqlite3"),
      },
    });
  } catch (error) {
    options.onError?.(error instanceof Error ? error : new Error(String(error)));
    return { stop: async () => {} };
  }
  database.pragma("wal_autocheckpoint = 0");
  // A background helper: it must not keep the process alive.
  worker.unref();
  let ended = false;
  const exited = new Promise<void>((resolve) => {
    worker.once("exit", () => {
      ended = true;
      resolve();
    });
  });
  worker.once("error", (error) => {
    restoreAutoCheckpoint();
    options.onError?.(error);
  });
  return {
    async stop() {
      if (!ended) worker.postMessage("stop");
      // Its last checkpoint waits for nothing (PASSIVE); a wedged disk must not hold the close.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, 5_000)))]);
      clearTimeout(timer);
      if (!ended) await worker.terminate();
    },
  };
}
