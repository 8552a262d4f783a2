import type { LanguageModel } from "@taskweaver/core";
import { JsonStreamParser } from "@taskweaver/core/internal";
import { modelText } from "./model-text.js";
import type { ConversationMessage } from "./virtual-user.js";

/** A judgement of one scoring point. */
export interface Verdict {
  isHit: boolean;
  /** Why, in the judge's words; or why the judgement could not be made. */
  reason: string;
}

const JUDGE_INSTRUCTION = [
  "You grade a conversation between a user and an AI data-analysis agent against one statement.",
  "Read the task the user had, the conversation, and the statement. Decide whether the statement is",
  "true of the conversation. Judge only from what the conversation shows; when it does not show",
  "enough to be sure, the statement is not true.",
  "",
  'Answer with one JSON object and nothing else: {"reason": "<one or two sentences>", "is_hit": "yes"}',
  'or the same with "is_hit": "no".',
].join("\n");

const SPEAKERS: Record<ConversationMessage["role"], string> = {
  system: "instruction to the user",
  agent: "agent",
  user: "user",
};

/** The judge's request text: the task, the conversation (without the user's instruction) and the statement. */
export function judgeRequest(taskDescription: string, conversation: readonly ConversationMessage[], statement: string): string {
  const lines = conversation
    .filter((message) => message.role !== "system")
    .map((message) => `[${SPEAKERS[message.role]}]\n${message.content}`);
  return [
    "=== the user's task ===",
    taskDescription.trim(),
    "=== the conversation ===",
    lines.join("\n\n"),
    "=== the statement ===",
    statement.trim(),
  ].join("\n");
}

/**
 * Reads the judge's answer: a JSON object (code fences, prose around it and `<think>` blocks
 * are tolerated) with `is_hit` "yes"/"no" (or true/false) and `reason`. An answer that says
 * neither is a failed judgement, with the reason saying what came back, never an exception.
 */
export function parseVerdict(answer: string): Verdict {
  const parser = new JsonStreamParser();
  parser.push(answer);
  parser.end();
  const fields = parser.fields;
  const quoted = answer.trim().replace(/\s+/g, " ");
  const shown = quoted.length > 200 ? `${quoted.slice(0, 200)}...` : quoted;
  if (parser.parseError !== undefined && Object.keys(fields).length === 0) {
    return { isHit: false, reason: `the judge's answer is not a JSON verdict (${parser.parseError}): "${shown}"` };
  }
  const hit = fields["is_hit"];
  const reasonField = fields["reason"];
  const reason = typeof reasonField === "string" ? reasonField : "";
  const normalized = typeof hit === "string" ? hit.trim().toLowerCase() : hit;
  if (normalized === "yes" || normalized === true || normalized === "true") return { isHit: true, reason };
  if (normalized === "no" || normalized === false || normalized === "false") return { isHit: false, reason };
  return {
    isHit: false,
    reason: `the judge's answer has no is_hit of "yes" or "no" (found ${JSON.stringify(hit) ?? "nothing"}): "${shown}"`,
  };
}

/** Asks the model whether `statement` holds for the conversation. Model errors reject. */
export async function judgeScoringPoint(options: {
  model: LanguageModel;
  taskDescription: string;
  conversation: readonly ConversationMessage[];
  statement: string;
  signal?: AbortSignal;
}): Promise<Verdict> {
  const answer = await modelText(options.model, {
    messages: [
      { role: "system", content: JUDGE_INSTRUCTION },
      { role: "user", content: judgeRequest(options.taskDescription, options.conversation, options.statement) },
    ],
    responseFormat: "json_object",
    tag: "Judge",
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
  return parseVerdict(answer);
}
