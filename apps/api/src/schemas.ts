import { z } from "@hono/zod-openapi";
import { ATTACHMENT_TYPES } from "@taskweaver/core";

/**
 * Request and response schemas. The same objects validate requests and generate the OpenAPI
 * document, so the document cannot drift from what the server accepts.
 */

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "not_found" }),
      message: z.string(),
      request_id: z.string().optional(),
      details: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
    }),
  })
  .openapi("Error");

export const SessionIdParamsSchema = z.strictObject({
  id: z
    .string()
    .min(1)
    .max(200)
    .openapi({ param: { name: "id", in: "path" }, example: "session-20261125-093501-a1b2c3d4" }),
});

export const FileParamsSchema = z.strictObject({
  id: SessionIdParamsSchema.shape.id,
  name: z
    .string()
    .min(1)
    .openapi({
      param: { name: "name", in: "path" },
      description: "Path relative to the working directory.",
      example: "result.csv",
    }),
});

export const CreateSessionRequestSchema = z.strictObject({}).openapi("CreateSessionRequest");

export const SessionSchema = z
  .object({
    id: z.string(),
    created_at: z.string().openapi({ format: "date-time" }),
    roles: z.array(z.string()).openapi({ example: ["Planner", "CodeInterpreter"] }),
    state: z.enum(["idle", "running", "stopped"]).openapi({
      description:
        "`idle`: kernel ready; `running`: a round is running; `stopped`: no kernel, the next message starts one.",
    }),
    plugins: z
      .array(
        z.object({
          name: z.string(),
          loaded: z.boolean(),
          error: z.string().optional().openapi({ example: "ModuleNotFoundError: No module named 'requests'" }),
        }),
      )
      .openapi({
        description:
          "The app's plugins and whether each loaded into the session's kernel (empty until a kernel started); " +
          "one that did not load is left out of the model's prompt. Changes also come as `plugin-status` events.",
      }),
  })
  .openapi("Session");

export const SessionListSchema = z.object({ sessions: z.array(SessionSchema) }).openapi("SessionList");

export const AttachmentSchema = z
  .object({
    id: z.string(),
    type: z.enum(ATTACHMENT_TYPES),
    content: z.string(),
    extra: z.unknown().optional(),
  })
  .openapi("Attachment");

export const PostSchema = z
  .object({
    id: z.string(),
    send_from: z.string(),
    send_to: z.string(),
    message: z.string(),
    attachment_list: z.array(AttachmentSchema),
  })
  .openapi("Post");

const tokenFields = {
  inputTokens: z.number().int(),
  outputTokens: z.number().int(),
  cachedInputTokens: z.number().int().openapi({ description: "Prompt tokens the server served from its cache (part of inputTokens)." }),
  modelCalls: z.number().int(),
  modelTimeMs: z.number().openapi({ description: "Wall time of the model calls." }),
  costUsd: z.number().optional().openapi({ description: "With a price for the model in `llm.pricing`." }),
};

/** Core's `RoundUsage`. */
export const UsageSchema = z
  .object({
    ...tokenFields,
    kernelTimeMs: z.number().openapi({ description: "Sum of the durations of the code executions." }),
    lines: z.array(z.object({ model: z.string(), role: z.string(), ...tokenFields })).openapi({
      description: "By model and by the role that made the calls.",
    }),
  })
  .openapi("Usage", {
    description:
      "Tokens, model calls and their wall time, kernel time and cost (with `llm.pricing`), also on the `round-end` and `round-error` events.",
  });

export const RoundErrorSchema = z.object({ code: z.string(), message: z.string() }).openapi("RoundError");

export const RoundSchema = z
  .object({
    id: z.string(),
    user_query: z.string(),
    state: z.enum(["created", "finished", "failed"]),
    post_list: z.array(PostSchema),
    error: RoundErrorSchema.nullable(),
    usage: UsageSchema.optional().openapi({ description: "Absent for rounds without figures (run before usage was recorded, or cut short by the server)." }),
  })
  .openapi("Round");

export const StoredRoundSchema = RoundSchema.extend({
  created_at: z.string().openapi({ format: "date-time" }),
  finished_at: z.string().nullable().openapi({ format: "date-time" }),
}).openapi("StoredRound");

export const KernelViewSchema = z
  .object({
    kind: z.string().openapi({ example: "local" }),
    forked: z.boolean().openapi({ description: "Forked from the fork template (`execution_service.kernel_start`) rather than spawned." }),
    memory: z
      .object({
        pss_bytes: z.number().int().openapi({ description: "Proportional set size: shared pages split between the processes sharing them." }),
        uss_bytes: z.number().int().openapi({ description: "Unique set size: what stopping the kernel gives back." }),
        rss_bytes: z.number().int(),
      })
      .optional()
      .openapi({ description: "Read from /proc when asked; absent where the runtime cannot measure it (containers, remote kernels)." }),
  })
  .openapi("Kernel");

export const SessionDetailSchema = SessionSchema.extend({
  rounds: z.array(StoredRoundSchema),
  usage: UsageSchema.openapi({ description: "The sum of the rounds' usage." }),
  kernel: KernelViewSchema.optional().openapi({
    description: "The session's kernel, when one runs on the instance that answers.",
  }),
}).openapi(
  "SessionDetail",
);

export const FileNameSchema = z.string().min(1).max(255);

/** Built per API because the message limit is configurable. */
export function createMessageRequestSchema(maxMessageChars: number) {
  return z
    .strictObject({
      message: z
        .string()
        .trim()
        .min(1)
        .max(maxMessageChars)
        .openapi({ example: "How many rows does data.csv have?" }),
      files: z.array(FileNameSchema).max(100).optional().openapi({
        description: "Names of files uploaded to this session before, to attach to the message.",
      }),
    })
    .openapi("MessageRequest");
}

export const UploadedFileSchema = z
  .object({ name: z.string(), size: z.number().int() })
  .openapi("UploadedFile");
export const UploadResultSchema = z.object({ files: z.array(UploadedFileSchema) }).openapi("UploadResult");
export const FileListSchema = z
  .object({ files: z.array(z.object({ name: z.string(), size: z.number().int(), modified_at: z.string() })) })
  .openapi("FileList");

export const UploadRequestSchema = z
  .object({
    file: z.union([
      z.string().openapi({ format: "binary" }),
      z.array(z.string().openapi({ format: "binary" })),
    ]),
  })
  .openapi("UploadRequest");

export const InterruptResultSchema = z
  .object({ interrupted: z.boolean().openapi({ description: "False when no round was running." }) })
  .openapi("InterruptResult");

export const HealthSchema = z
  .object({ status: z.enum(["ok", "shutting_down"]), version: z.string(), sessions: z.number().int() })
  .openapi("Health");

export const ReadySchema = z
  .object({
    status: z.enum(["ready", "not_ready"]),
    /** Why the instance cannot serve (the database does not answer, shutting down). */
    reason: z.string().optional(),
  })
  .openapi("Ready");

export const EventsQuerySchema = z.strictObject({
  after: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .openapi({
      param: { name: "after", in: "query" },
      description: "Replay events after this id; the `Last-Event-ID` header wins.",
    }),
});

export const EventSchema = z
  .object({ type: z.string(), sessionId: z.string(), roundId: z.string() })
  .passthrough()
  .openapi("TaskWeaverEvent", {
    description:
      "One core event (`round-start`, `post-start`, `post-status`, `post-recipient`, `post-delta`, `attachment-delta`, " +
      "`execution-output`, `execution-approval-request`, `execution-approval-result`, `plugin-status`, `post-end`, `round-end`, `round-error`), sent as the `data` of an SSE event whose `event` " +
      "is the type and whose `id` is the session's event sequence number.",
  });

export const EventListSchema = z
  .object({ events: z.array(z.object({ id: z.number().int(), event: EventSchema })) })
  .openapi("EventList");
