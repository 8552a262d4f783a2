import { AbortedError } from "../errors.js";

/** How failed model calls are retried. */
export interface RetryPolicy {
  /** Retries after the first attempt (so `maxRetries + 1` attempts at most). @default 3 */
  maxRetries: number;
  /** Delay before the first retry; doubles each time. @default 500 */
  baseDelayMs: number;
  /** Upper bound of one delay, also for server-requested waits. @default 20000 */
  maxDelayMs: number;
  /** Source of randomness for the jitter, in [0, 1). @default Math.random */
  random: () => number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: 3,
  baseDelayMs: 500,
  maxDelayMs: 20_000,
  random: Math.random,
};

/** Reads `retry-after-ms` (OpenAI, Azure) or `retry-after` (seconds or an HTTP date). */
export function retryAfterFromHeaders(headers: Headers | undefined, now = Date.now()): number | undefined {
  if (headers === undefined) return undefined;
  const milliseconds = headers.get("retry-after-ms");
  if (milliseconds !== null && milliseconds.trim() !== "") {
    const value = Number(milliseconds);
    if (Number.isFinite(value) && value >= 0) return value;
  }
  const after = headers.get("retry-after");
  if (after !== null && after.trim() !== "") {
    const seconds = Number(after);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(after);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  return undefined;
}

/**
 * Delay before retry number `retry` (0-based): what the server asked for when it said so,
 * else exponential backoff with jitter so many clients hitting a limit do not retry in step.
 */
export function retryDelay(
  policy: RetryPolicy,
  retry: number,
  serverRequestedMs: number | undefined,
): number {
  if (serverRequestedMs !== undefined) return Math.min(serverRequestedMs, policy.maxDelayMs);
  const exponential = Math.min(policy.baseDelayMs * 2 ** retry, policy.maxDelayMs);
  // Half fixed, half random: keeps a floor so retries are not immediate.
  return Math.round(exponential / 2 + (exponential / 2) * policy.random());
}

/** Waits `ms`, rejecting with `AbortedError` as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
