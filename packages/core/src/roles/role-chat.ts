import type { RoundCompressor } from "../compression/round-compressor.js";
import type { ChatMessage } from "../llm/types.js";
import type { Round } from "../memory/types.js";
import { withSummary } from "../prompts/history-summary.js";

/**
 * System prompts built once per distinct input (requester, plugin signatures, lessons), so a
 * role sends the same text, and so the same cacheable prefix, on every call with that input.
 */
export function createSystemPromptCache(): (key: string, build: () => string) => string {
  const prompts = new Map<string, string>();
  return (key, build) => {
    let prompt = prompts.get(key);
    if (prompt === undefined) {
      prompt = build();
      prompts.set(key, prompt);
    }
    return prompt;
  };
}

export interface RoleChatOptions {
  systemPrompt: string;
  /** The rounds the role sees: finished earlier rounds, then the current one. */
  rounds: readonly Round[];
  /** Renders rounds (examples and history) as the role's chat. */
  format: (rounds: readonly Round[]) => ChatMessage[];
  /** Folds old rounds into a summary appended to the system prompt. */
  compressor?: RoundCompressor;
  /** Few-shot example conversations, put between the system prompt and the history. */
  examples?: () => Promise<readonly Round[][]>;
  signal: AbortSignal;
}

/**
 * The chat a role sends its model: the system prompt (with the running summary when the
 * compressor folded old rounds), the few-shot examples, then the rounds still shown whole.
 */
export async function buildRoleChat(options: RoleChatOptions): Promise<ChatMessage[]> {
  const history = options.compressor
    ? await options.compressor.compress(options.rounds, { signal: options.signal })
    : { summary: undefined, recentRounds: options.rounds };
  const messages: ChatMessage[] = [{ role: "system", content: withSummary(options.systemPrompt, history.summary) }];
  for (const example of (await options.examples?.()) ?? []) messages.push(...options.format(example));
  messages.push(...options.format(history.recentRounds));
  return messages;
}
