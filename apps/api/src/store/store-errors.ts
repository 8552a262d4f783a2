import { TaskWeaverError } from "@taskweaver/core";

/**
 * The session database cannot be reached or used (refused connection, lost connection, failed
 * login, missing database). `url` names it with the password masked. Nothing that a store call
 * resolved before is lost; the call that rejected may or may not have been committed only when
 * the connection dropped while it ran.
 */
const storeUnavailableErrorMarker = Symbol.for("taskweaver.error.StoreUnavailableError");

export class StoreUnavailableError extends TaskWeaverError {
  private readonly [storeUnavailableErrorMarker] = true;
  /** The database URL, password replaced by `***`. */
  readonly url: string;
  constructor(message: string, options: { url: string; cause?: unknown }) {
    super("store_unavailable", message, { cause: options.cause });
    this.url = options.url;
  }

  /** True for this error only (also across duplicated module copies). */
  static override isInstance(value: unknown): value is StoreUnavailableError {
    return TaskWeaverError.hasMarker(value, storeUnavailableErrorMarker);
  }
}

/**
 * A database URL fit for messages and logs: the password (in the user part or a `password`
 * query parameter) becomes `***`.
 */
export function maskDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const user = parsed.username ? `${parsed.username}${parsed.password ? ":***" : ""}@` : "";
    const query = new URLSearchParams(parsed.search);
    for (const key of [...query.keys()]) {
      if (key.toLowerCase() === "password") query.set(key, "***");
    }
    const search = query.size > 0 ? `?${query.toString().replaceAll("%2A", "*")}` : "";
    return `${parsed.protocol}//${user}${parsed.host}${parsed.pathname}${search}`;
  } catch {
    return url.replace(/(:\/\/[^:/@]*):[^@]*@/, "$1:***@").replace(/(password=)[^&]*/gi, "$1***");
  }
}
