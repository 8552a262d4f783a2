import type { Round, RoundUsage } from "@taskweaver/core";
import type { StoredEvent } from "./store/session-store.js";

/** Why a round failed, as events and answers carry it. */
export interface RoundError {
  code: string;
  message: string;
}

/** How a round ended, as the API reports it. */
export interface RoundOutcome {
  round: Round;
  error: RoundError | null;
}

/**
 * The events of one running round, kept in memory so any number of readers (the POST that
 * started it, reconnecting clients) can follow it from any position without missing one.
 */
export class RoundRun {
  readonly events: StoredEvent[] = [];
  private outcomeValue: RoundOutcome | undefined;
  private readonly waiters = new Set<() => void>();
  private resolveDone!: (outcome: RoundOutcome) => void;
  /** Settles when the round has ended, with its outcome; never rejects. */
  readonly done: Promise<RoundOutcome>;

  constructor() {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  /** True from the core's first event of the round (its `round-start`) on. */
  begun = false;
  /** Set when an interrupt arrived before the round began; the round is interrupted as it begins. */
  interruptRequested = false;
  /** The first store write of this round that failed: the stored round lacks what came after. */
  storeFailure: unknown = undefined;

  get finished(): boolean {
    return this.outcomeValue !== undefined;
  }

  get outcome(): RoundOutcome | undefined {
    return this.outcomeValue;
  }

  /** The id of the round, once its `round-start` was stored. */
  get roundId(): string | undefined {
    const started = this.events.find((item) => item.event.type === "round-start")?.event;
    return started?.type === "round-start" ? started.roundId : undefined;
  }

  /** The error of the round's last `round-error` event, if it had one. */
  lastRoundError(): RoundError | undefined {
    for (let index = this.events.length - 1; index >= 0; index -= 1) {
      const event = this.events[index]!.event;
      if (event.type === "round-error") return event.error;
    }
    return undefined;
  }

  /** What the round used, from its `round-end` or `round-error` event. */
  usage(): RoundUsage | undefined {
    for (let index = this.events.length - 1; index >= 0; index -= 1) {
      const event = this.events[index]!.event;
      if (event.type === "round-end" || event.type === "round-error") return event.usage;
    }
    return undefined;
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
  async *follow(afterSeq = 0, signal?: AbortSignal): AsyncGenerator<StoredEvent> {
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
