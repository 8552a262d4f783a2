import type { Round } from "@taskweaver/core";
import type { StoredEvent } from "./store/session-store.js";

/** How a round ended, as the API reports it. */
export interface RoundOutcome {
  round: Round;
  error: { code: string; message: string } | null;
}

/**
 * The events of one running round, kept in memory so any number of readers (the POST that
 * started it, reconnecting clients) can follow it from any position without missing one.
 */
export class RoundRun {
  readonly events: StoredEvent[] = [];
  /** Sequence number of the last event stored before this round began. */
  readonly startSeq: number;
  private outcomeValue: RoundOutcome | undefined;
  private readonly waiters = new Set<() => void>();
  private resolveDone!: (outcome: RoundOutcome) => void;
  /** Settles when the round has ended, with its outcome; never rejects. */
  readonly done: Promise<RoundOutcome>;

  constructor(startSeq: number) {
    this.startSeq = startSeq;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  get finished(): boolean {
    return this.outcomeValue !== undefined;
  }

  get outcome(): RoundOutcome | undefined {
    return this.outcomeValue;
  }

  push(event: StoredEvent): void {
    this.events.push(event);
    this.wake();
  }

  finish(outcome: RoundOutcome): void {
    if (this.outcomeValue) return;
    this.outcomeValue = outcome;
    this.resolveDone(outcome);
    this.wake();
  }

  private wake(): void {
    for (const waiter of this.waiters) waiter();
    this.waiters.clear();
  }

  /** Events with `seq > afterSeq` as they arrive, until the round has ended or `signal` aborts. */
  async *follow(afterSeq: number, signal?: AbortSignal): AsyncGenerator<StoredEvent> {
    let index = this.events.findIndex((item) => item.seq > afterSeq);
    if (index < 0) index = this.events.length;
    for (;;) {
      while (index < this.events.length) yield this.events[index++]!;
      if (this.finished || signal?.aborted) return;
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal?.removeEventListener("abort", wake);
          this.waiters.delete(wake);
          resolve();
        };
        this.waiters.add(wake);
        signal?.addEventListener("abort", wake, { once: true });
      });
    }
  }
}
