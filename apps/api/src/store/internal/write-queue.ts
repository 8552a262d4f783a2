/**
 * Runs the writes of one key (a session id) one after another in call order, whether or not the
 * caller waits for each, and lets reads of that key wait for the writes called before them.
 * A failed write does not stop the ones queued after it.
 */
export interface WriteQueue {
  write<T>(key: string, operation: () => Promise<T>): Promise<T>;
  read<T>(key: string, operation: () => Promise<T>): Promise<T>;
  /** Resolves when every write called so far has settled. */
  drain(): Promise<void>;
}

const ignore = (): void => undefined;

export function createWriteQueue(): WriteQueue {
  const tails = new Map<string, Promise<void>>();
  return {
    write(key, operation) {
      const previous = tails.get(key);
      const result = previous ? previous.then(operation) : operation();
      const tail = result.then(ignore, ignore);
      tails.set(key, tail);
      void tail.then(() => {
        if (tails.get(key) === tail) tails.delete(key);
      });
      return result;
    },
    read(key, operation) {
      const previous = tails.get(key);
      return previous ? previous.then(operation) : operation();
    },
    async drain() {
      while (tails.size > 0) await Promise.all(tails.values());
    },
  };
}
