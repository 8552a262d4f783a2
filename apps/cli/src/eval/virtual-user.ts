import type { ChatMessage, LanguageModel } from "@taskweaver/core";
import { modelText } from "./model-text.js";

/** The word the virtual user says when it is done, as in the original harness. */
export const STOP_KEYWORD = "TASK_FINISHED";

/** The harness's first message to the virtual user, which answers with its first request. */
export const KICK_OFF_MESSAGE = "The agent is ready. Send it your first request now.";

/**
 * One message of the conversation between the virtual user and the agent, seen from the
 * virtual user's side: `system` is its instruction, `agent` what the harness or the agent said
 * to it, `user` what it said. Eval code sees these as `SystemMessage`, `HumanMessage` and
 * `AIMessage`, the names the original's `chat_history` uses.
 */
export interface ConversationMessage {
  role: "system" | "agent" | "user";
  content: string;
}

/** Options of `talkWithAgent`. */
export interface VirtualUserOptions {
  model: LanguageModel;
  taskDescription: string;
  /** Sends one request to the agent and resolves with its reply; a rejection ends the talk. */
  askAgent: (message: string) => Promise<string>;
  /** Agent replies after which the talk ends even without the stop keyword. @default 5 */
  maxRounds?: number;
  /** Called with each message as it is added (progress output). */
  onMessage?: (message: ConversationMessage) => void;
  signal?: AbortSignal;
}

/** How the talk ended. */
export interface Conversation {
  /** Every message, the instruction first and the virtual user's last word at the end. */
  messages: ConversationMessage[];
  /** `stopped`: the virtual user said the stop keyword; `max-rounds`: the cap; `agent-failed`: a round failed. */
  ending: "stopped" | "max-rounds" | "agent-failed";
  /** Requests the agent answered (or failed on). */
  rounds: number;
}

function instruction(taskDescription: string): string {
  return [
    "You are testing an AI data-analysis agent by playing its human user. You want one thing done,",
    "described below between the markers. Talk to the agent as that user would: short, plain requests,",
    "one step at a time when the task has several steps.",
    "",
    "Rules:",
    "- Use only facts from the task description. If the agent asks for something the description does",
    "  not say, tell it you do not know and let it decide.",
    "- Do not do the work yourself and do not give the agent code.",
    "- Do not judge or grade the agent; just carry the conversation.",
    `- When every step of the task is done, or the agent clearly cannot go on, answer with exactly ${STOP_KEYWORD}`,
    "  and nothing else.",
    "",
    "=== task description ===",
    taskDescription.trim(),
    "=== end of task description ===",
    "",
    `The harness starts with the line "${KICK_OFF_MESSAGE}"; answer it with your first request.`,
  ].join("\n");
}

function toChatMessages(messages: readonly ConversationMessage[]): ChatMessage[] {
  return messages.map((message) =>
    message.role === "system"
      ? { role: "system", content: message.content }
      : message.role === "agent"
        ? { role: "user", content: message.content }
        : { role: "assistant", content: message.content },
  );
}

/**
 * A model playing the user drives a conversation with the agent: it opens after the kick-off
 * message, answers every reply of the agent, and ends by saying `STOP_KEYWORD`. The
 * conversation is also capped at `maxRounds` agent replies. A failed agent round ends it,
 * with the failure told as the agent's last word, as the original harness does.
 */
export async function talkWithAgent(options: VirtualUserOptions): Promise<Conversation> {
  const maxRounds = Math.max(1, options.maxRounds ?? 5);
  const messages: ConversationMessage[] = [];
  const add = (message: ConversationMessage): void => {
    messages.push(message);
    options.onMessage?.(message);
  };
  const userSays = async (agentMessage: string): Promise<string> => {
    add({ role: "agent", content: agentMessage });
    const text = await modelText(options.model, {
      messages: toChatMessages(messages),
      responseFormat: "text",
      tag: "VirtualUser",
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    });
    add({ role: "user", content: text.trim() });
    return text.trim();
  };

  messages.push({ role: "system", content: instruction(options.taskDescription) });
  let request = await userSays(KICK_OFF_MESSAGE);
  let rounds = 0;
  while (!request.includes(STOP_KEYWORD)) {
    if (rounds >= maxRounds) return { messages, ending: "max-rounds", rounds };
    let reply: string;
    try {
      reply = await options.askAgent(request);
    } catch (error) {
      rounds += 1;
      add({ role: "agent", content: `I cannot finish the task: an error occurred: ${(error as Error).message}` });
      add({ role: "user", content: STOP_KEYWORD });
      return { messages, ending: "agent-failed", rounds };
    }
    rounds += 1;
    request = await userSays(reply);
  }
  return { messages, ending: "stopped", rounds };
}

/** The conversation without the virtual user's final stop word, as scoring sees it. */
export function conversationForScoring(conversation: Conversation): ConversationMessage[] {
  const last = conversation.messages.at(-1);
  return last?.role === "user" && last.content.includes(STOP_KEYWORD)
    ? conversation.messages.slice(0, -1)
    : conversation.messages;
}
