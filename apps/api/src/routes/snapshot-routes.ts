import { createRoute, z } from "@hono/zod-openapi";
import { SessionIdParamsSchema } from "../schemas.js";
import { createRouter, errorResponses, secured, visibleSession, type RouteContext } from "./route-context.js";

const LossSchema = z.object({ name: z.string(), reason: z.string() });

/** The answer of `POST /sessions/{id}/snapshot`. */
export const SnapshotSchema = z
  .object({
    saved: z.boolean().openapi({ description: "False when there was no kernel state to save." }),
    bytes: z.number().int().openapi({ description: "Size of the snapshot file." }),
    created_at: z.string().openapi({ format: "date-time" }),
    serializer: z.enum(["dill", "pickle"]).openapi({
      description:
        "`dill` keeps functions and classes defined in the session; `pickle` (no dill in the kernel) does not.",
    }),
    values: z
      .array(z.object({ name: z.string(), type: z.string() }))
      .openapi({ example: [{ name: "df", type: "DataFrame" }] }),
    modules: z
      .array(z.object({ name: z.string(), module: z.string() }))
      .openapi({ example: [{ name: "pd", module: "pandas" }] }),
    lost: z.array(LossSchema).openapi({
      description:
        "Names not saved, with why (cannot be pickled, too large for execution_service.snapshot_max_bytes, ...).",
    }),
  })
  .openapi("Snapshot");

/** Saving a session's kernel state on demand. */
export function createSnapshotRoutes(context: RouteContext) {
  const router = createRouter();
  router.openapi(
    createRoute({
      method: "post",
      path: "/sessions/{id}/snapshot",
      summary: "Save the session's kernel state (variables, imports, functions) for its next kernel",
      description:
        "The kernel keeps running. Its next kernel (after an idle timeout, a restart of the server) restores the snapshot before the next round, and the model is told what came back. Kernels stopped by the server save one by themselves.",
      tags: ["sessions"],
      security: secured,
      request: { params: SessionIdParamsSchema },
      responses: {
        200: { description: "Saved", content: { "application/json": { schema: SnapshotSchema } } },
        ...errorResponses(401, 404, 409, 503),
      },
    }),
    async (c) => {
      const record = await visibleSession(context, c, c.req.valid("param").id);
      const summary = await context.sessions.snapshot(record);
      return c.json(
        {
          saved: summary.saved,
          bytes: summary.bytes,
          created_at: summary.createdAt,
          serializer: summary.serializer,
          values: summary.values,
          modules: summary.modules,
          lost: summary.lost,
        },
        200,
      );
    },
  );
  return router;
}
