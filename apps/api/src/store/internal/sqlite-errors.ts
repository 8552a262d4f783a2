import { StoreUnavailableError } from "../store-errors.js";
import type { SessionStore } from "../session-store.js";

/** What each SQLite failure of the file itself means to the operator, by result code prefix. */
const EXPLANATIONS: [RegExp, string][] = [
  [/^SQLITE_FULL/, "the disk under it is full: free space on that file system"],
  [/^SQLITE_BUSY|^SQLITE_LOCKED/, "another process holds a lock on it (waited 5 s): end the other writer"],
  [/^SQLITE_READONLY/, "it cannot be written (a read-only file or file system): check its permissions"],
  [/^SQLITE_IOERR|^SQLITE_CANTOPEN/, "reading or writing the file failed: check the disk and the file"],
  [/^SQLITE_CORRUPT|^SQLITE_NOTADB/, "the file is damaged: restore it from a backup"],
];

function explain(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return undefined;
  return EXPLANATIONS.find(([pattern]) => pattern.test(code))?.[1];
}

/**
 * The SQLite store with failures of the database file (full disk, a lock held by another
 * process, I/O errors) as `StoreUnavailableError` naming the file and what to do, instead of a
 * bare `SqliteError` answered as an internal error. A failed call wrote nothing (SQLite rolls
 * the statement back); what was committed before stays.
 */
export function withSqliteErrors(store: SessionStore, path: string): SessionStore {
  const translate = (error: unknown): unknown => {
    const explanation = explain(error);
    if (explanation === undefined) return error;
    return new StoreUnavailableError(
      `The session database ${path} cannot be used: ${explanation} (${(error as Error).message}). Rounds committed before are kept.`,
      { url: path, cause: error },
    );
  };
  const wrapped: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(store)) {
    wrapped[name] =
      typeof value === "function"
        ? (...args: unknown[]) => {
            try {
              const result: unknown = (value as (...inner: unknown[]) => unknown).apply(store, args);
              return result instanceof Promise
                ? result.catch((error: unknown) => Promise.reject(translate(error)))
                : result;
            } catch (error) {
              throw translate(error);
            }
          }
        : value;
  }
  return wrapped as unknown as SessionStore;
}
