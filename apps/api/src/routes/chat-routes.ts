import { createRoute, z } from "@hono/zod-openapi";
import type { RouteContext } from "./route-context.js";
import { createRouter, errorResponses, secured, visibleSession } from "./route-context.js";
import { SessionIdParamsSchema } from "../schemas.js";
import type { StoredEvent } from "../store/session-store.js";
import { notFound } from "../errors.js";
import {
  ChatRequestSchema,
  approvalResponses,
  attachChatFiles,
  lastUserMessage,
} from "../ui-message-stream/chat-request.js";
import { uiMessageStreamResponse } from "../ui-message-stream/ui-message-stream.js";

const ChatStreamParamsSchema = SessionIdParamsSchema.extend({
  chatId: z
    .string()
    .min(1)
    .max(200)
    .openapi({
      param: { name: "chatId", in: "path" },
      description: "The chat id `useChat` sends; not used.",
    }),
});

const UiMessageChunkSchema = z
  .looseObject({ type: z.string() })
  .openapi("UiMessageChunk", { description: "One chunk of the AI SDK's UI message stream (protocol v1)." });

/** The download route's URL of a working-directory file. */
function fileUrlFor(sessionId: string) {
  return (path: string) =>
    `/api/v1/sessions/${encodeURIComponent(sessionId)}/files/${path.split("/").map(encodeURIComponent).join("/")}`;
}

/**
 * The AI SDK's chat protocol over a session: `useChat` with `api` set to the session's chat
 * route sends messages and gets the round as a UI message stream; its resume request
 * (`.../chat/{chatId}/stream`) replays the running round from the event log and follows it.
 */
export function createChatRoutes(context: RouteContext) {
  const { sessions, store, heartbeatMs } = context;
  const router = createRouter();

  /**
   * The AI SDK's approval flow: the answers go to the waiting round (an answer already given,
   * for example an edit through the approvals route, stands), and the round's stream goes on
   * after its last answered request, on whichever instance the round runs.
   */
  const continueAfterApproval = async (
    sessionId: string,
    answers: ReturnType<typeof approvalResponses>,
    isApprovalPending: (approvalId: string) => Promise<boolean>,
  ): Promise<Response> => {
    for (const answer of answers) {
      const result = await sessions.answerApproval(
        sessionId,
        answer.approvalId,
        answer.approved
          ? { decision: "approve" }
          : answer.reason === undefined
            ? { decision: "reject" }
            : { decision: "reject", reason: answer.reason },
      );
      if (result === "unknown") throw notFound(`Approval ${JSON.stringify(answer.approvalId)}`);
    }
    const events = await store.listEvents(sessionId, 0);
    const requests = new Set(answers.map((answer) => answer.approvalId));
    const request = events.findLast(
      (item) => item.event.type === "execution-approval-request" && requests.has(item.event.approvalId),
    );
    const start = request ? events.findLastIndex((item) => item.event.type === "round-start" && item.seq < request.seq) : -1;
    if (!request || start < 0) throw notFound(`The round of approval ${JSON.stringify(answers[0]!.approvalId)}`);
    const rest = events.slice(start);
    const end = rest.findIndex((item) => item.event.type === "round-end" || item.event.type === "round-error");
    const replay = end < 0 ? rest : rest.slice(0, end + 1);
    return uiMessageStreamResponse({
      events: async function* (signal) {
        yield* replay;
        const last = replay.at(-1)!;
        if (last.event.type === "round-end" || last.event.type === "round-error") return;
        yield* sessions.followRound(sessionId, last.seq, signal);
      },
      fileUrl: fileUrlFor(sessionId),
      heartbeatMs,
      isApprovalPending,
      continueAfterSeq: request.seq,
    });
  };

  router.openapi(
    createRoute({
      method: "post",
      path: "/sessions/{id}/chat",
      summary: "Send a message the way the AI SDK's useChat does: one round as a UI message stream",
      description:
        "Takes the body of the AI SDK's default chat transport (`{id, messages, trigger, messageId}`); the last user " +
        "message's text parts are the message and its file parts (data URLs, or URLs of this session's file route) are " +
        "attached. Answers with the UI message stream (SSE, header `x-vercel-ai-ui-message-stream: v1`): the answer as " +
        "text, plans and thoughts as reasoning, each code run as a `python` tool call, artifacts as files, statuses as " +
        "transient `data-status` parts. The round keeps running if the client disconnects. One round at a time (409). " +
        "Code that needs approval (`code_interpreter.require_confirmation`) ends the stream with a `tool-approval-request` " +
        "chunk (the AI SDK's tool approval); sending the chat again with that tool part in state `approval-responded` " +
        "(`addToolApprovalResponse`) answers it and streams the rest of the round (404 for an unknown approval id).",
      tags: ["chat"],
      security: secured,
      request: {
        params: SessionIdParamsSchema,
        body: { required: true, content: { "application/json": { schema: ChatRequestSchema } } },
      },
      responses: {
        200: {
          description: "The round as a UI message stream",
          content: { "text/event-stream": { schema: UiMessageChunkSchema } },
        },
        ...errorResponses(400, 401, 404, 409, 413, 415, 422, 429, 503),
      },
    }),
    async (c) => {
      const record = await visibleSession(context, c, c.req.valid("param").id);
      const body = c.req.valid("json");
      const isApprovalPending = async (approvalId: string) =>
        (await store.readApproval(record.id, approvalId))?.state === "pending";
      const answers = approvalResponses(body);
      if (answers.length > 0) return continueAfterApproval(record.id, answers, isApprovalPending);
      const message = lastUserMessage(body, context.limits.maxMessageChars);
      const fileNames = await attachChatFiles(record.id, record.workingDirectory, message.files);
      const run = await sessions.startRound(record, message.text, fileNames);
      return uiMessageStreamResponse({
        events: (signal) => run.follow(0, signal),
        fileUrl: fileUrlFor(record.id),
        heartbeatMs,
        isApprovalPending,
      });
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/sessions/{id}/chat/{chatId}/stream",
      summary: "Resume the running round's UI message stream (the AI SDK's reconnect request)",
      description:
        "The running round's UI message stream from its start (replayed from the event log), then live until it " +
        "ends, on whichever instance it runs. 204 when no round is running.",
      tags: ["chat"],
      security: secured,
      request: { params: ChatStreamParamsSchema },
      responses: {
        200: {
          description: "The round as a UI message stream",
          content: { "text/event-stream": { schema: UiMessageChunkSchema } },
        },
        204: { description: "No round is running" },
        ...errorResponses(401, 404),
      },
    }),
    async (c) => {
      const record = await visibleSession(context, c, c.req.valid("param").id);
      const fileUrl = fileUrlFor(record.id);
      const isApprovalPending = async (approvalId: string) =>
        (await store.readApproval(record.id, approvalId))?.state === "pending";
      const local = sessions.activeRun(record.id);
      if (local && !local.finished) {
        return uiMessageStreamResponse({
          events: (signal) => local.follow(0, signal),
          fileUrl,
          heartbeatMs,
          isApprovalPending,
        });
      }
      if (!(await store.getRoundLease(record.id))) return c.body(null, 204);
      const replay = runningRoundEvents(await store.listEvents(record.id, 0));
      if (!replay) return c.body(null, 204);
      return uiMessageStreamResponse({
        events: async function* (signal) {
          yield* replay;
          yield* sessions.followRound(record.id, replay.at(-1)!.seq, signal);
        },
        fileUrl,
        heartbeatMs,
        isApprovalPending,
      });
    },
  );
  return router;
}

/** The stored events of the last round from its `round-start` on, when it has not ended. */
function runningRoundEvents(events: readonly StoredEvent[]): StoredEvent[] | undefined {
  const start = events.findLastIndex((item) => item.event.type === "round-start");
  if (start < 0) return undefined;
  const round = events.slice(start);
  const ended = round.some((item) => item.event.type === "round-end" || item.event.type === "round-error");
  return ended ? undefined : round;
}
