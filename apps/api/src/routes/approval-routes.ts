import { createRoute, z } from "@hono/zod-openapi";
import type { TaskWeaverErrorCode } from "@taskweaver/core";
import { ApiError, notFound } from "../errors.js";
import { ErrorSchema, SessionIdParamsSchema } from "../schemas.js";
import type { ApprovalAnswer } from "../store/session-store.js";
import { createRouter, errorResponses, secured, visibleSession, type RouteContext } from "./route-context.js";

const ApprovalParamsSchema = SessionIdParamsSchema.extend({
  approvalId: z
    .string()
    .min(1)
    .max(200)
    .openapi({
      param: { name: "approvalId", in: "path" },
      description: "The `approvalId` of the round's `execution-approval-request` event.",
    }),
});

const APPROVAL_ANSWERED: TaskWeaverErrorCode = "approval_answered";
const APPROVAL_CLOSED: TaskWeaverErrorCode = "approval_closed";

/** Decisions carry at most this much text; the code limit is the message limit's order of size. */
const MAX_REASON_CHARS = 2_000;
const MAX_CODE_CHARS = 200_000;

export const ApprovalRequestSchema = z
  .strictObject({
    decision: z.enum(["approve", "reject"]).openapi({ description: "Run the code, or do not run it." }),
    reason: z
      .string()
      .max(MAX_REASON_CHARS)
      .optional()
      .openapi({ description: "Why it was rejected; the model is told. Ignored when approving." }),
    code: z
      .string()
      .min(1)
      .max(MAX_CODE_CHARS)
      .optional()
      .openapi({ description: "Approve an edited version: this code runs instead (only with `approve`)." }),
  })
  .refine((body) => body.decision === "approve" || body.code === undefined, {
    path: ["code"],
    message: "code is only taken with decision approve",
  })
  .openapi("ApprovalRequest", { example: { decision: "reject", reason: "Do not delete files." } });

export const ApprovalResultSchema = z
  .object({
    approval_id: z.string(),
    decision: z.enum(["approve", "reject"]),
    edited: z.boolean().openapi({ description: "True when `code` was given: the edited code runs." }),
  })
  .openapi("ApprovalResult");

/** Answering the approval requests of running rounds (`code_interpreter.require_confirmation`). */
export function createApprovalRoutes(context: RouteContext) {
  const { sessions } = context;
  const router = createRouter();
  router.openapi(
    createRoute({
      method: "post",
      path: "/sessions/{id}/approvals/{approvalId}",
      summary: "Approve, edit or reject code that waits for approval",
      description:
        "A round whose code needs approval emits `execution-approval-request` (with `approvalId` and the code) and " +
        "waits, up to `code_interpreter.confirmation_timeout` seconds. This answers it: `approve` runs the code (or " +
        "`code`, an edited version), `reject` tells the model the user declined (with `reason`). Any instance sharing " +
        "the session store can answer. One answer per request: a second one, or one after the round stopped waiting, " +
        "is refused (409).",
      tags: ["rounds"],
      security: secured,
      request: {
        params: ApprovalParamsSchema,
        body: { required: true, content: { "application/json": { schema: ApprovalRequestSchema } } },
      },
      responses: {
        200: {
          description: "The answer was taken; the round goes on",
          content: { "application/json": { schema: ApprovalResultSchema } },
        },
        ...errorResponses(400, 401, 404, 413, 415, 422),
        409: {
          description: "The request was already answered, or timed out, or its round stopped",
          content: { "application/json": { schema: ErrorSchema } },
        },
      },
    }),
    async (c) => {
      const { id, approvalId } = c.req.valid("param");
      const record = await visibleSession(context, c, id);
      const body = c.req.valid("json");
      const answer: ApprovalAnswer =
        body.decision === "approve"
          ? body.code === undefined
            ? { decision: "approve" }
            : { decision: "approve", code: body.code }
          : body.reason === undefined
            ? { decision: "reject" }
            : { decision: "reject", reason: body.reason };
      const result = await sessions.answerApproval(record.id, approvalId, answer);
      if (result === "unknown") throw notFound(`Approval ${JSON.stringify(approvalId)}`);
      if (result === "already_answered")
        throw new ApiError(409, APPROVAL_ANSWERED, "This approval request was already answered.");
      if (result === "closed")
        throw new ApiError(
          409,
          APPROVAL_CLOSED,
          "This approval request is no longer waiting (it timed out, or its round stopped).",
        );
      return c.json(
        { approval_id: approvalId, decision: body.decision, edited: body.code !== undefined },
        200,
      );
    },
  );
  return router;
}
