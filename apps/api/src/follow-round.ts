import type { Context } from "hono";
import { streamSSE, type SSEStreamingApi } from "hono/streaming";
import type { RoundRun } from "./round-run.js";
import type { StoredEvent } from "./store/session-store.js";

/** EventSource clients send `text/event-stream`; anything else gets JSON. */
export function wantsEventStream(c: Context): boolean {
  return (c.req.header("accept") ?? "").toLowerCase().includes("text/event-stream");
}

/** Where a stream of round events starts and what it follows. */
export interface RoundStreamSource {
  /** Stored events to send first (a reconnecting client's missed ones). @default none */
  replay?: () => Promise<readonly StoredEvent[]> | readonly StoredEvent[];
  /** Sequence number after which events are sent. @default 0: every event of `run` */
  after?: number;
  /** The running round to follow after the replay, looked up once the replay is sent. @default none */
  run?: () => RoundRun | undefined;
  /**
   * Without `run`: the events after the replay's last one, until the round running somewhere
   * (on any instance) has ended (see `SessionManager.followRound`). @default none
   */
  follow?: (afterSeq: number, signal: AbortSignal) => AsyncIterable<StoredEvent>;
  /** Interval of the `: keep-alive` comment. */
  heartbeatMs: number;
}

/**
 * Answers with server-sent events (`id` = sequence number, `event` = type, `data` = the event):
 * the replay, then the running round as it happens until its last event. The round does not
 * depend on the stream: a client going away only ends its own stream. Quiet stretches (code
 * running for minutes) get a comment line so proxies and clients do not take them for a dead
 * connection.
 */
export function streamRoundEvents(c: Context, source: RoundStreamSource): Response {
  return streamSSE(c, async (stream) => {
    const gone = new AbortController();
    stream.onAbort(() => gone.abort());
    const timer = setInterval(() => {
      if (!stream.aborted && !stream.closed) stream.write(": keep-alive\n\n").catch(() => {});
    }, source.heartbeatMs);
    try {
      let last = source.after ?? 0;
      for (const item of (await source.replay?.()) ?? []) {
        if (gone.signal.aborted) return;
        await writeEvent(stream, item);
        last = item.seq;
      }
      const run = source.run?.();
      const following = run ? run.follow(last, gone.signal) : source.follow?.(last, gone.signal);
      if (!following) return;
      for await (const item of following) await writeEvent(stream, item);
    } finally {
      clearInterval(timer);
    }
  });
}

function writeEvent(stream: SSEStreamingApi, item: StoredEvent): Promise<void> {
  return stream.writeSSE({ id: String(item.seq), event: item.event.type, data: JSON.stringify(item.event) });
}
