import { createRoute } from "@hono/zod-openapi";
import { renderDocsPage } from "../docs-page.js";
import { toTaskWeaverError } from "@taskweaver/core";
import { HealthSchema, ReadySchema } from "../schemas.js";
import { createRouter, type RouteContext } from "./route-context.js";

/** Paths (under the prefix) that need no key even when keys are configured. */
export const OPEN_PATHS = ["/health", "/ready", "/openapi.json", "/docs"];

/** Health, the OpenAPI document and the HTML reference; `document` builds the whole API's document. */
export function createMetaRoutes(context: RouteContext, document: () => unknown) {
  const router = createRouter();
  router.openapi(
    createRoute({
      method: "get",
      path: "/health",
      summary: "Is the server up",
      tags: ["meta"],
      responses: {
        200: { description: "Serving", content: { "application/json": { schema: HealthSchema } } },
        503: { description: "Shutting down", content: { "application/json": { schema: HealthSchema } } },
      },
    }),
    (c) => {
      const { sessions } = context;
      const body = {
        status: sessions.draining ? ("shutting_down" as const) : ("ok" as const),
        version: context.version,
        sessions: sessions.liveCount,
      };
      return sessions.draining ? c.json(body, 503) : c.json(body, 200);
    },
  );
  router.openapi(
    createRoute({
      method: "get",
      path: "/ready",
      summary: "Can this instance serve requests (its database answers)",
      description:
        "For load balancers and readiness probes: 503 while the session database does not answer or the " +
        "instance shuts down. `/health` is the liveness check and does not ask the database.",
      tags: ["meta"],
      responses: {
        200: { description: "Ready", content: { "application/json": { schema: ReadySchema } } },
        503: {
          description: "Not ready, with the reason",
          content: { "application/json": { schema: ReadySchema } },
        },
      },
    }),
    async (c) => {
      if (context.sessions.draining)
        return c.json({ status: "not_ready" as const, reason: "The server is shutting down." }, 503);
      try {
        await context.store.ping();
        return c.json({ status: "ready" as const }, 200);
      } catch (error) {
        return c.json({ status: "not_ready" as const, reason: toTaskWeaverError(error).message }, 503);
      }
    },
  );
  router.get("/openapi.json", (c) => c.json(document() as object));
  router.get("/docs", (c) => c.html(renderDocsPage(document())));
  return router;
}
