import { createRoute } from "@hono/zod-openapi";
import { renderDocsPage } from "../docs-page.js";
import { HealthSchema } from "../schemas.js";
import { createRouter, type RouteContext } from "./route-context.js";

/** Paths (under the prefix) that need no key even when keys are configured. */
export const OPEN_PATHS = ["/health", "/openapi.json", "/docs"];

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
  router.get("/openapi.json", (c) => c.json(document() as object));
  router.get("/docs", (c) => c.html(renderDocsPage(document())));
  return router;
}
