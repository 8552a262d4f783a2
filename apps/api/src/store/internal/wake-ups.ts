import type { SessionCommand, Unsubscribe } from "../session-store.js";

/**
 * In-process wake-ups by key (a session id for events, an instance id for commands). They only
 * shorten a wait: every waiter also polls the database, which is the truth.
 */
export interface WakeUps {
  wake(key: string): void;
  listen(key: string, listener: () => void): () => void;
}

export function createWakeUps(): WakeUps {
  const listeners = new Map<string, Set<() => void>>();
  return {
    wake(key) {
      for (const listener of listeners.get(key) ?? []) listener();
    },
    listen(key, listener) {
      let set = listeners.get(key);
      if (!set) {
        set = new Set();
        listeners.set(key, set);
      }
      set.add(listener);
      return () => {
        set.delete(listener);
        if (set.size === 0) listeners.delete(key);
      };
    },
  };
}

/** What {@link waitUntilNewer} needs. */
export interface WaitUntilNewerOptions {
  key: string;
  afterSeq: number;
  /** The highest sequence number now. */
  latest: () => Promise<number>;
  wakeUps: WakeUps;
  pollIntervalMs: number;
  timeoutMs: number;
  signal?: AbortSignal;
  /** The store's own signal, aborted when it closes. */
  closed: AbortSignal;
}

/**
 * Resolves true once `latest()` passes `afterSeq`, false on timeout or abort. Checks at once, on
 * every wake-up and every poll interval; a failing check rejects the wait.
 */
export function waitUntilNewer(options: WaitUntilNewerOptions): Promise<boolean> {
  const { signal, closed } = options;
  if (signal?.aborted || closed.aborted) return Promise.resolve(false);
  return new Promise<boolean>((resolve, reject) => {
    let done = false;
    let checking = false;
    let checkAgain = false;
    const finish = (value: boolean | Error) => {
      if (done) return;
      done = true;
      stopListening();
      clearInterval(poll);
      clearTimeout(timeout);
      signal?.removeEventListener("abort", onAbort);
      closed.removeEventListener("abort", onAbort);
      if (value instanceof Error) reject(value);
      else resolve(value);
    };
    const check = async (): Promise<void> => {
      if (checking) {
        checkAgain = true;
        return;
      }
      checking = true;
      try {
        do {
          checkAgain = false;
          if (done) return;
          if ((await options.latest()) > options.afterSeq) {
            finish(true);
            return;
          }
        } while (checkAgain);
      } catch (error) {
        finish(error instanceof Error ? error : new Error(String(error)));
      } finally {
        checking = false;
      }
    };
    const onAbort = () => finish(false);
    const stopListening = options.wakeUps.listen(options.key, () => void check());
    const poll = setInterval(() => void check(), options.pollIntervalMs);
    const timeout = setTimeout(() => finish(false), options.timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });
    closed.addEventListener("abort", onAbort, { once: true });
    void check();
  });
}

/** What {@link subscribeToCommands} needs. */
export interface SubscribeToCommandsOptions {
  instanceId: string;
  /** Takes (and removes) the commands waiting for the instance. */
  claim: () => Promise<SessionCommand[]>;
  handler: (command: SessionCommand) => void;
  wakeUps: WakeUps;
  pollIntervalMs: number;
  closed: AbortSignal;
  /** Where a failing claim is reported; the subscription keeps polling. */
  onError?: (error: unknown) => void;
}

/** Claims the instance's commands at once, on every wake-up and every poll interval. */
export function subscribeToCommands(options: SubscribeToCommandsOptions): Unsubscribe {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let scheduled = false;
  const claimAll = async () => {
    scheduled = false;
    if (stopped || options.closed.aborted) return;
    try {
      for (const command of await options.claim()) {
        try {
          options.handler(command);
        } catch (error) {
          options.onError?.(error);
        }
      }
    } catch (error) {
      options.onError?.(error);
    }
  };
  const trigger = () => {
    if (scheduled) return;
    scheduled = true;
    running = running.then(claimAll);
  };
  const stopListening = options.wakeUps.listen(options.instanceId, trigger);
  const poll = setInterval(trigger, options.pollIntervalMs);
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    stopListening();
    clearInterval(poll);
    options.closed.removeEventListener("abort", onClose);
    await running;
  };
  const onClose = () => void stop();
  options.closed.addEventListener("abort", onClose, { once: true });
  trigger();
  return stop;
}
