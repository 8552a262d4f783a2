import { RoleError } from "../errors.js";
import type { ChatMessage, LanguageModel } from "../llm/types.js";
import type { RoundCompressor } from "../compression/round-compressor.js";
import type { ExperienceRetriever } from "../experience/experience-store.js";
import { findAttachment } from "../memory/factories.js";
import type { Post, Round } from "../memory/types.js";
import { buildPlannerSystemPrompt, plannerAnswerSchema, PLANNER_STOP_VALUES } from "../prompts/planner-prompt.js";
import { describeModelRetry, fieldText, requestModelAnswer } from "../model-calls/model-answer.js";
import { tracePlan } from "../tracing/agent-spans.js";
import { buildRoleChat, createSystemPromptCache } from "./role-chat.js";
import type { Role, RoleContext } from "./role.js";

export const PLANNER_ALIAS = "Planner";

/** Answer fields that become attachments of the same name, in the order they are stored. */
const PLAN_FIELDS = ["plan_reasoning", "init_plan", "plan", "current_plan_step", "stop"] as const;
const REQUIRED_FIELDS = ["init_plan", "plan", "current_plan_step"] as const;

export interface PlannerOptions {
  model: LanguageModel;
  workers: readonly Role[];
  /** Corrections in a row before the round fails. @default 3 */
  maxSelfCorrections?: number;
  responseFormat?: "json_object" | "json_schema" | "text";
  /** Few-shot example conversations, filtered to the session's roles; loaded on first use. */
  examples?: () => Promise<readonly Round[][]>;
  /** Lessons from saved sessions for the user's request (`planner.use_experience`). */
  experience?: ExperienceRetriever;
  /** Summarises old rounds (`planner.prompt_compression`); one per session. */
  compressor?: RoundCompressor;
}

/** The Planner: plans, routes work to workers, and answers the user. */
export function createPlanner(options: PlannerOptions): Role {
  const maxCorrections = options.maxSelfCorrections ?? 3;
  const recipients = [...options.workers.map((worker) => worker.alias), "User"];
  const systemPrompts = createSystemPromptCache();

  return {
    alias: PLANNER_ALIAS,
    description: "Plans the work and talks with the User.",
    async reply(context: RoleContext): Promise<Post> {
      const corrections = countTrailingCorrections(context.round);
      if (corrections >= maxCorrections) {
        throw new RoleError(
          "planner_invalid_response",
          `The Planner gave ${corrections} invalid answers in a row and was stopped. ` +
            `Last problem: ${lastRevision(context.round) ?? "unknown"}. Try again, or use a stronger model.`,
        );
      }
      const lessons = await options.experience?.(context.round.user_query, { signal: context.signal });
      const messages = await buildRoleChat({
        systemPrompt: systemPrompts(lessons ?? "", () => buildPlannerSystemPrompt(options.workers, { experience: lessons })),
        rounds: context.rounds,
        format: formatPlannerRounds,
        compressor: options.compressor,
        examples: options.examples,
        signal: context.signal,
      });

      const builder = context.startPost();
      builder.status("calling the model");
      const answer = await tracePlan(PLANNER_ALIAS, () => requestModelAnswer(
        options.model,
        {
          messages,
          responseFormat: options.responseFormat,
          jsonSchema: { name: "planner_answer", schema: plannerAnswerSchema(recipients) },
          signal: context.signal,
          tag: PLANNER_ALIAS,
          onRetry: (info) => builder.status(describeModelRetry(info)),
        },
        (event) => {
          if (event.type === "field-delta") {
            if (event.key === "message") builder.messageDelta(event.delta);
            else if (isPlanField(event.key)) builder.attachmentDelta(event.key, event.delta);
          } else if (event.type === "field-end" && event.key === "send_to" && typeof event.value === "string") {
            if (recipients.includes(event.value)) builder.setRecipient(event.value);
          }
        },
      ));

      const problem = findProblem(answer.parseError, answer.fields, recipients);
      if (problem) {
        // The answer is kept, whole, for the correction request; streamed pieces are dropped.
        builder.discardOpenAttachments();
        builder.setMessage("");
        builder.setRecipient(PLANNER_ALIAS);
        builder.addAttachment("invalid_response", answer.text);
        builder.addAttachment(
          "revise_message",
          `Your last answer could not be used: ${problem}. Answer again with exactly one JSON object in the required format.`,
        );
        return builder.end();
      }
      for (const field of PLAN_FIELDS) {
        const value = fieldText(answer.fields, field);
        if (value !== undefined) builder.finishAttachment(field, value);
      }
      builder.setMessage(fieldText(answer.fields, "message") ?? "");
      builder.setRecipient(answer.fields["send_to"] as string);
      return builder.end();
    },
  };
}

function isPlanField(key: string): key is (typeof PLAN_FIELDS)[number] {
  return (PLAN_FIELDS as readonly string[]).includes(key);
}

function findProblem(
  parseError: string | undefined,
  fields: Readonly<Record<string, unknown>>,
  recipients: readonly string[],
): string | undefined {
  if (parseError) return parseError;
  const sendTo = fields["send_to"];
  if (typeof sendTo !== "string" || sendTo === "") return 'the field "send_to" is missing';
  if (sendTo === PLANNER_ALIAS) return "you sent the message to yourself (Planner); send it to a worker or the User";
  if (!recipients.includes(sendTo)) return `"${sendTo}" is not a recipient; use one of ${recipients.join(", ")}`;
  if (typeof fields["message"] !== "string") return 'the field "message" is missing';
  const missing = REQUIRED_FIELDS.filter((field) => fieldText(fields, field) === undefined);
  if (missing.length > 0) return `the field${missing.length > 1 ? "s" : ""} ${missing.map((m) => `"${m}"`).join(", ")} ${missing.length > 1 ? "are" : "is"} missing`;
  const stop = fields["stop"];
  if (stop !== undefined && !(PLANNER_STOP_VALUES as readonly unknown[]).includes(stop)) {
    return `"stop" must be one of ${PLANNER_STOP_VALUES.join(", ")}`;
  }
  return undefined;
}

/** Corrections since the Planner's last valid answer in this round (the counter resets on success). */
function countTrailingCorrections(round: Round): number {
  let count = 0;
  for (let index = round.post_list.length - 1; index >= 0; index -= 1) {
    const post = round.post_list[index]!;
    if (post.send_from !== PLANNER_ALIAS) continue;
    if (post.send_to === PLANNER_ALIAS) count += 1;
    else break;
  }
  return count;
}

function lastRevision(round: Round): string | undefined {
  const last = [...round.post_list].reverse().find((post) => post.send_to === PLANNER_ALIAS && post.send_from === PLANNER_ALIAS);
  return last ? findAttachment(last, "revise_message")?.content : undefined;
}

/** A Planner post as the JSON answer the model would have written. */
function plannerPostAsAnswer(post: Post): string {
  const response: Record<string, string> = {};
  for (const attachment of post.attachment_list) {
    if (isPlanField(attachment.type)) response[attachment.type] = attachment.content;
  }
  response["send_to"] = post.send_to;
  response["message"] = post.message;
  return JSON.stringify({ response });
}

/** Renders rounds as the Planner's chat: its own answers as assistant turns, others as user turns. */
export function formatPlannerRounds(rounds: readonly Round[]): ChatMessage[] {
  const messages: ChatMessage[] = [];
  for (const round of rounds) {
    for (const post of round.post_list) {
      if (post.send_from === PLANNER_ALIAS) {
        const invalid = findAttachment(post, "invalid_response");
        if (invalid) {
          messages.push({ role: "assistant", content: invalid.content });
          messages.push({ role: "user", content: findAttachment(post, "revise_message")?.content ?? "Answer again." });
        } else {
          messages.push({ role: "assistant", content: plannerPostAsAnswer(post) });
        }
      } else if (post.send_to === PLANNER_ALIAS) {
        messages.push({ role: "user", content: `From ${post.send_from}:\n${post.message}` });
      }
    }
  }
  return messages;
}

