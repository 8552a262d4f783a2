import type { ChatMessage, LanguageModel } from "../llm/types.js";
import { findAttachment } from "../memory/factories.js";
import type { Post, Round } from "../memory/types.js";
import { describeModelRetry, fieldText, requestModelAnswer } from "../model-calls/model-answer.js";
import type { WorkerAnswerFormat } from "../prompts/worker-answer-format.js";
import type { PostBuilder } from "./post-builder.js";
import type { RoleContext } from "./role.js";

/**
 * What the code-writing worker roles (the CodeInterpreter and its command-line variant) share:
 * one JSON answer `{"response": {"thought", "reply_type", "reply_content"}}`, streamed into the
 * post as it arrives, checked, and retried with the problem shown to the model.
 */

/** A usable answer; its fields are already attached to the post. */
export interface WorkerAnswer {
  replyType: string;
  content: string;
}

export interface WorkerAnswerRequest {
  messages: ChatMessage[];
  responseFormat?: "json_object" | "json_schema" | "text";
  format: WorkerAnswerFormat;
  signal: AbortSignal;
  tag: string;
}

/**
 * Asks the model for one answer, streaming its fields into the post. Returns the answer, or
 * the problem that makes it unusable (the raw text is then attached as `invalid_response`).
 */
export async function requestWorkerAnswer(
  model: LanguageModel,
  builder: PostBuilder,
  request: WorkerAnswerRequest,
): Promise<WorkerAnswer | { problem: string }> {
  const answer = await requestModelAnswer(
    model,
    {
      messages: request.messages,
      responseFormat: request.responseFormat,
      jsonSchema: { name: request.format.name, schema: request.format.schema },
      signal: request.signal,
      tag: request.tag,
      onRetry: (info) => builder.status(describeModelRetry(info)),
    },
    (event) => {
      if (event.type !== "field-delta") return;
      if (event.key === "thought" || event.key === "reply_type" || event.key === "reply_content") {
        builder.attachmentDelta(event.key, event.delta);
      }
    },
  );

  const thought = fieldText(answer.fields, "thought");
  const replyType = fieldText(answer.fields, "reply_type");
  const content = fieldText(answer.fields, "reply_content");
  let problem = answer.parseError;
  const { replyTypes } = request.format;
  if (!problem && (replyType === undefined || !replyTypes.includes(replyType))) {
    const allowed = replyTypes.map((type) => JSON.stringify(type)).join(" or ");
    problem = `"reply_type" must be ${allowed}, not ${JSON.stringify(replyType ?? null)}`;
  }
  if (!problem && (content === undefined || content.trim() === "")) problem = '"reply_content" is missing or empty';
  if (problem) {
    builder.discardOpenAttachments();
    builder.addAttachment("invalid_response", answer.text);
    return { problem };
  }
  if (thought !== undefined) builder.finishAttachment("thought", thought);
  builder.finishAttachment("reply_type", replyType!);
  builder.finishAttachment("reply_content", content!);
  return { replyType: replyType!, content: content! };
}

/** What `startWorkerReply` needs beyond the request: where a retry or a reply goes. */
export interface WorkerReplyRequest extends Omit<WorkerAnswerRequest, "signal"> {
  /** Whether the role may send an unusable answer back to the model once more. */
  canRetry: boolean;
  /** Who asked, and gets text answers and the final failure. */
  requester: string;
  alias: string;
}

/**
 * Starts the reply post and asks the model for one worker answer. An unusable answer (sent
 * back for a retry, or reported once retries are used up) and a text answer finish the post
 * here; an answer to run (code, a command) comes back with the post still open.
 */
export async function startWorkerReply(
  model: LanguageModel,
  context: RoleContext,
  request: WorkerReplyRequest,
): Promise<{ post: Post } | { builder: PostBuilder; content: string }> {
  const { canRetry, requester, alias } = request;
  const builder = context.startPost();
  builder.status("calling the model");
  const answer = await requestWorkerAnswer(model, builder, {
    messages: request.messages,
    responseFormat: request.responseFormat,
    format: request.format,
    signal: context.signal,
    tag: request.tag,
  });
  if ("problem" in answer) {
    return { post: endFailedAttempt(builder, { canRetry, requester, alias, ...unusableAnswerRetry(answer.problem) }) };
  }
  if (answer.replyType === "text") {
    builder.setRecipient(requester);
    builder.setMessage(answer.content);
    return { post: builder.end() };
  }
  return { builder, content: answer.content };
}

/** The message asking the model to answer again after an unusable answer. */
export function unusableAnswerRetry(problem: string): { revise: string; failure: string } {
  return {
    revise: `Your answer could not be used: ${problem}. Answer again with exactly one JSON object in the required format.`,
    failure: `I could not produce a usable answer (${problem}).`,
  };
}

/** Ends a failed attempt: back to the model while retries remain, else report to the requester. */
export function endFailedAttempt(
  builder: PostBuilder,
  details: { canRetry: boolean; requester: string; alias: string; revise: string; failure: string },
): Post {
  if (details.canRetry) {
    builder.addAttachment("revise_message", details.revise);
    builder.setRecipient(details.alias);
    builder.setMessage(details.revise);
  } else {
    builder.setRecipient(details.requester);
    builder.setMessage(`${details.failure}\n\nI ran out of retries and could not complete the request.`);
  }
  return builder.end();
}

/** A worker's post as the model wrote it: the raw text of an unusable answer, else the JSON answer. */
function answerOf(post: Post): string {
  const invalid = findAttachment(post, "invalid_response");
  if (invalid) return invalid.content;
  const response: Record<string, string> = {};
  for (const type of ["thought", "reply_type", "reply_content"] as const) {
    const attachment = findAttachment(post, type);
    if (attachment) response[type] = attachment.content;
  }
  return JSON.stringify({ response });
}

/**
 * Renders rounds as a worker's chat: requests, its answers, and what running them did (after
 * `resultPrefix`) or the retry message.
 */
export function formatWorkerRounds(rounds: readonly Round[], alias: string, resultPrefix: string): ChatMessage[] {
  const messages: ChatMessage[] = [];
  for (const round of rounds) {
    for (const post of round.post_list) {
      if (post.send_from === alias) {
        messages.push({ role: "assistant", content: answerOf(post) });
        const revise = findAttachment(post, "revise_message");
        const result = findAttachment(post, "execution_result");
        if (revise) messages.push({ role: "user", content: revise.content });
        else if (result) messages.push({ role: "user", content: `${resultPrefix}${result.content}` });
      } else if (post.send_to === alias) {
        messages.push({ role: "user", content: post.message });
      }
    }
  }
  return messages;
}
