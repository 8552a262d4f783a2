import { createRoute } from "@hono/zod-openapi";
import {
  CreateSessionRequestSchema,
  SessionDetailSchema,
  SessionIdParamsSchema,
  SessionListSchema,
  SessionSchema,
} from "../schemas.js";
import { createRouter, errorResponses, secured, visibleSession, type RouteContext } from "./route-context.js";

/** Creating, listing, showing and deleting sessions. */
export function createSessionRoutes(context: RouteContext) {
  const { sessions, store } = context;
  const router = createRouter();
  router.openapi(
    createRoute({
      method: "post",
      path: "/sessions",
      summary: "Create a session (starts its kernel)",
      tags: ["sessions"],
      security: secured,
      request: {
        body: { required: false, content: { "application/json": { schema: CreateSessionRequestSchema } } },
      },
      responses: {
        201: { description: "Created", content: { "application/json": { schema: SessionSchema } } },
        ...errorResponses(400, 401, 413, 415, 422, 429, 503),
      },
    }),
    async (c) => c.json(await sessions.create(c.get("owner")), 201),
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/sessions",
      summary: "List your sessions",
      tags: ["sessions"],
      security: secured,
      responses: {
        200: {
          description: "Sessions, oldest first",
          content: { "application/json": { schema: SessionListSchema } },
        },
        ...errorResponses(401),
      },
    }),
    async (c) =>
      c.json({ sessions: await sessions.list(context.keysConfigured ? c.get("owner") : undefined) }, 200),
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/sessions/{id}",
      summary: "A session with its rounds and posts",
      tags: ["sessions"],
      security: secured,
      request: { params: SessionIdParamsSchema },
      responses: {
        200: { description: "The session", content: { "application/json": { schema: SessionDetailSchema } } },
        ...errorResponses(401, 404),
      },
    }),
    async (c) => {
      const record = await visibleSession(context, c, c.req.valid("param").id);
      const usage = await sessions.usage(record.id);
      const rounds = (await store.listRounds(record.id)).map(({ createdAt, finishedAt, ...round }) => {
        const roundUsage = usage.rounds.get(round.id);
        return { ...round, created_at: createdAt, finished_at: finishedAt, ...(roundUsage ? { usage: roundUsage } : {}) };
      });
      const kernel = await sessions.kernel(record.id);
      return c.json({ ...(await sessions.describe(record)), rounds, usage: usage.total, ...(kernel ? { kernel } : {}) }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: "delete",
      path: "/sessions/{id}",
      summary: "Stop a session's kernel and delete it with its history and files",
      tags: ["sessions"],
      security: secured,
      request: { params: SessionIdParamsSchema },
      responses: { 204: { description: "Deleted" }, ...errorResponses(401, 404) },
    }),
    async (c) => {
      await sessions.delete(await visibleSession(context, c, c.req.valid("param").id));
      return c.body(null, 204);
    },
  );
  return router;
}
