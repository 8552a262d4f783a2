import { z } from "zod";

/**
 * Attachment types, named as in TaskWeaver so that example files and stored sessions load
 * unchanged. `review` is retired but still accepted from old example files.
 */
export const ATTACHMENT_TYPES = [
  "plan_reasoning",
  "init_plan",
  "plan",
  "current_plan_step",
  "stop",
  "thought",
  "reply_type",
  "reply_content",
  "verification",
  "code_error",
  "execution_status",
  "execution_result",
  "artifact_paths",
  "revise_message",
  "invalid_response",
  "function",
  "text",
  "shared_memory_entry",
  "image_url",
  "web_exploring_plan",
  "web_exploring_screenshot",
  "web_exploring_link",
  "review",
] as const;

export const AttachmentTypeSchema = z.enum(ATTACHMENT_TYPES);
/** One of TaskWeaver's attachment type names. */
export type AttachmentType = z.infer<typeof AttachmentTypeSchema>;

/** A typed piece of a post: a plan, code, an execution result, ... */
export const AttachmentSchema = z.object({
  id: z.string(),
  type: AttachmentTypeSchema,
  content: z.string(),
  extra: z.unknown().optional(),
});
export type Attachment = z.infer<typeof AttachmentSchema>;

/** `User`, `Planner`, `CodeInterpreter` or any other role alias. */
export const RoleAliasSchema = z.string().min(1);

/** One message between two roles inside a round. */
export const PostSchema = z.object({
  id: z.string(),
  send_from: RoleAliasSchema,
  send_to: RoleAliasSchema,
  message: z.string(),
  attachment_list: z.array(AttachmentSchema),
});
export type Post = z.infer<typeof PostSchema>;

export const RoundStateSchema = z.enum(["created", "finished", "failed"]);
export type RoundState = z.infer<typeof RoundStateSchema>;

/** One user request and everything that happened until the reply. */
export const RoundSchema = z.object({
  id: z.string(),
  user_query: z.string(),
  state: RoundStateSchema,
  post_list: z.array(PostSchema),
});
export type Round = z.infer<typeof RoundSchema>;

/** A sequence of rounds: a session's history, or a few-shot example. */
export const ConversationSchema = z.object({
  id: z.string().optional(),
  rounds: z.array(RoundSchema),
  plugins: z.array(z.string()).optional(),
  enabled: z.boolean().default(true),
});
export type Conversation = z.infer<typeof ConversationSchema>;
