import { createRoute, type z } from "@hono/zod-openapi";
import { ApiError, roundNotStored } from "../errors.js";
import { streamRoundEvents, wantsEventStream } from "../follow-round.js";
import {
  EventListSchema,
  EventSchema,
  EventsQuerySchema,
  InterruptResultSchema,
  RoundSchema,
  SessionIdParamsSchema,
  createMessageRequestSchema,
} from "../schemas.js";
import { createRouter, errorResponses, secured, visibleSession, type RouteContext } from "./route-context.js";

/** Sending a message (one round), the event log and its live follow, interrupting. */
export function createRoundRoutes(context: RouteContext) {
  const { sessions, store, heartbeatMs } = context;
  const router = createRouter();
  const MessageRequestSchema = createMessageRequestSchema(context.limits.maxMessageChars);
  router.openapi(
    createRoute({
      method: "post",
      path: "/sessions/{id}/messages",
      summary: "Send a message: run one round",
      description:
        "With `Accept: text/event-stream` the round's events stream as SSE (`id` = the session's event sequence number, " +
        "`event` = the event type, `data` = the event as JSON); the last event is `round-end` or `round-error` and carries " +
        "the round. The round keeps running if the client disconnects: reconnect with `GET .../events` and `Last-Event-ID`. " +
        "Otherwise the answer is the finished round as JSON. One round at a time per session (409). The body must be " +
        "`application/json` (415 `unsupported_media_type` otherwise).",
      tags: ["rounds"],
      security: secured,
      request: {
        params: SessionIdParamsSchema,
        body: { required: true, content: { "application/json": { schema: MessageRequestSchema } } },
      },
      responses: {
        200: {
          description: "The finished (or failed) round, or its event stream",
          content: {
            "application/json": { schema: RoundSchema },
            "text/event-stream": { schema: EventSchema },
          },
        },
        ...errorResponses(400, 401, 404, 409, 413, 415, 422, 429, 503),
      },
    }),
    async (c) => {
      const record = await visibleSession(context, c, c.req.valid("param").id);
      const body = c.req.valid("json");
      const run = await sessions.startRound(record, body.message, body.files ?? []);
      if (wantsEventStream(c)) return streamRoundEvents(c, { run: () => run, heartbeatMs });
      const outcome = await run.done;
      if (run.storeFailure !== undefined) throw roundNotStored(run.storeFailure);
      const usage = run.usage();
      const round: z.infer<typeof RoundSchema> = { ...outcome.round, error: outcome.error, ...(usage ? { usage } : {}) };
      return c.json(round, 200);
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/sessions/{id}/events",
      summary: "Replay the session's events, then follow the running round",
      description:
        "Events with an id greater than `Last-Event-ID` (header) or `after` (query), from the stored event log. With " +
        "`Accept: text/event-stream` the stream then follows the running round, if any (on whichever instance it runs), " +
        "and ends after its last event; " +
        "without a running round it ends after the replay. Without that Accept header the stored events come as JSON.",
      tags: ["rounds"],
      security: secured,
      request: { params: SessionIdParamsSchema, query: EventsQuerySchema },
      responses: {
        200: {
          description: "Events",
          content: {
            "text/event-stream": { schema: EventSchema },
            "application/json": { schema: EventListSchema },
          },
        },
        ...errorResponses(400, 401, 404),
      },
    }),
    async (c) => {
      const record = await visibleSession(context, c, c.req.valid("param").id);
      const header = c.req.header("last-event-id");
      if (header !== undefined && !/^\d+$/.test(header.trim())) {
        throw new ApiError(
          400,
          "invalid_last_event_id",
          "Last-Event-ID must be a non-negative integer event id.",
        );
      }
      const after = header !== undefined ? Number(header.trim()) : (c.req.valid("query").after ?? 0);
      if (!wantsEventStream(c)) {
        const events = (await store.listEvents(record.id, after)).map((item) => ({
          id: item.seq,
          event: item.event,
        }));
        return c.json({ events }, 200);
      }
      return streamRoundEvents(c, {
        replay: () => store.listEvents(record.id, after),
        after,
        follow: (afterSeq, signal) => sessions.followRound(record.id, afterSeq, signal),
        heartbeatMs,
      });
    },
  );

  router.openapi(
    createRoute({
      method: "post",
      path: "/sessions/{id}/interrupt",
      summary: "Interrupt the running round (model call and code)",
      tags: ["rounds"],
      security: secured,
      request: { params: SessionIdParamsSchema },
      responses: {
        200: {
          description: "Whether a round was interrupted",
          content: { "application/json": { schema: InterruptResultSchema } },
        },
        ...errorResponses(401, 404),
      },
    }),
    async (c) => {
      const record = await visibleSession(context, c, c.req.valid("param").id);
      return c.json({ interrupted: await sessions.interrupt(record.id) }, 200);
    },
  );
  return router;
}
