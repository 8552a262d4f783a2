import { createUIMessageStreamResponse } from "ai";
import type { StoredEvent } from "../store/session-store.js";
import { createUiMessageChunkMapper, type TaskWeaverUiMessageChunk } from "./chunk-mapper.js";

/** Options of {@link uiMessageStreamResponse}. */
export interface UiMessageStreamResponseOptions {
  /** The round's events, from its `round-start` on, until its last one. */
  events: (signal: AbortSignal) => AsyncIterable<StoredEvent>;
  /** The download URL of a working-directory file. */
  fileUrl: (path: string) => string;
  /** Interval of the keep-alive comment on quiet stretches. */
  heartbeatMs: number;
}

/**
 * The AI SDK's UI message stream of one round (SSE, `x-vercel-ai-ui-message-stream: v1`). A
 * client going away ends only this stream, never the round.
 */
export function uiMessageStreamResponse(options: UiMessageStreamResponseOptions): Response {
  const gone = new AbortController();
  const mapper = createUiMessageChunkMapper({ fileUrl: options.fileUrl });
  let iterator: AsyncIterator<StoredEvent> | undefined;
  const stream = new ReadableStream<TaskWeaverUiMessageChunk>({
    async pull(controller) {
      iterator ??= options.events(gone.signal)[Symbol.asyncIterator]();
      // One pull may map to no chunk (a plugin status): read on until something is sent or the round ends.
      for (;;) {
        const next = await iterator.next();
        if (next.done || gone.signal.aborted) {
          controller.close();
          return;
        }
        const chunks = mapper.map(next.value.event);
        for (const chunk of chunks) controller.enqueue(chunk);
        if (chunks.length > 0) return;
      }
    },
    async cancel() {
      gone.abort();
      await iterator?.return?.();
    },
  });
  return createUIMessageStreamResponse({ stream, keepAliveMs: options.heartbeatMs });
}
