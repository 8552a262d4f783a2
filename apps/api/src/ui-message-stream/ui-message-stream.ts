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
  /**
   * Whether an approval request still waits for its answer: then the stream ends there (the
   * client answers and sends the chat again). Absent: the stream never stops at a request.
   */
  isApprovalPending?: (approvalId: string) => Promise<boolean>;
  /**
   * Continues a round after an approval answer: events up to and including this sequence
   * number only set the mapper's state (the client has their chunks); the stream begins after it.
   */
  continueAfterSeq?: number;
}

/**
 * The AI SDK's UI message stream of one round (SSE, `x-vercel-ai-ui-message-stream: v1`). A
 * client going away ends only this stream, never the round.
 */
export function uiMessageStreamResponse(options: UiMessageStreamResponseOptions): Response {
  const gone = new AbortController();
  const mapper = createUiMessageChunkMapper({ fileUrl: options.fileUrl });
  let iterator: AsyncIterator<StoredEvent> | undefined;
  let resumed = options.continueAfterSeq === undefined;
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
        const { seq, event } = next.value;
        const chunks = mapper.map(event);
        if (!resumed) {
          if (seq < options.continueAfterSeq!) continue;
          resumed = true;
          for (const chunk of mapper.resume()) controller.enqueue(chunk);
          if (seq === options.continueAfterSeq) return;
        }
        for (const chunk of chunks) controller.enqueue(chunk);
        if (
          event.type === "execution-approval-request" &&
          options.isApprovalPending &&
          (await options.isApprovalPending(event.approvalId))
        ) {
          for (const chunk of mapper.suspend()) controller.enqueue(chunk);
          controller.close();
          gone.abort();
          await iterator.return?.();
          return;
        }
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
