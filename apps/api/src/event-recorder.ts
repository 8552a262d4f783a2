import type { TaskWeaverEvent } from "@taskweaver/core";
import type { RoundRun } from "./round-run.js";
import type { SessionStore } from "./store/session-store.js";

/**
 * Writes the events of running rounds to the store, one after another per session, so that the
 * event log keeps the core's order even when the store answers asynchronously; each event goes
 * to the round's readers once it has its sequence number.
 */
export class EventRecorder {
  /** The last pending write per session. */
  private readonly writes = new Map<string, Promise<void>>();

  constructor(
    private readonly store: SessionStore,
    private readonly log: (message: string, error?: unknown) => void,
  ) {}

  /** Stores an event, persists what it changes (rounds, posts), and hands it to `run`'s readers. */
  record(sessionId: string, run: RoundRun, event: TaskWeaverEvent): Promise<void> {
    const previous = this.writes.get(sessionId) ?? Promise.resolve();
    const next = previous.then(async () => {
      try {
        // Opened before its event is stored, so whoever sees the request (on any instance) can answer it.
        if (event.type === "execution-approval-request")
          await this.store.openApproval(sessionId, { approvalId: event.approvalId, roundId: event.roundId });
        const seq = await this.store.appendEvent(sessionId, event);
        await this.persist(sessionId, event);
        // The round's last write stores the whole round with its posts: what failed before is mended
        // (only the failed events stay missing from the log).
        if (event.type === "round-end" || event.type === "round-error") run.storeFailure = undefined;
        run.push({ seq, event });
      } catch (error) {
        // A failing store must not stop the round; the caller hears of it when the round ends.
        run.storeFailure ??= error;
        this.log(`storing a ${event.type} event of session ${sessionId} failed`, error);
      }
    });
    this.writes.set(sessionId, next);
    void next.then(() => {
      if (this.writes.get(sessionId) === next) this.writes.delete(sessionId);
    });
    return next;
  }

  /** Settles once every event recorded so far for the session is written. */
  async flush(sessionId: string): Promise<void> {
    await this.writes.get(sessionId);
  }

  private async persist(sessionId: string, event: TaskWeaverEvent): Promise<void> {
    switch (event.type) {
      case "round-start":
        await this.store.startRound(sessionId, { id: event.roundId, userQuery: event.userQuery });
        break;
      case "post-end":
        await this.store.savePost(sessionId, event.roundId, event.post);
        break;
      case "round-end":
        await this.store.finishRound(sessionId, event.round);
        break;
      case "round-error":
        await this.store.finishRound(sessionId, { ...event.round, state: "failed" }, event.error);
        break;
      case "execution-approval-result":
        // A timed-out request stays closed: an answer arriving later is refused (409).
        await this.store.closeApproval(sessionId, event.approvalId);
        break;
      default:
        break;
    }
  }
}
