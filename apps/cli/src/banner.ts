/**
 * The console's opening: a banner of our own drawing (threads woven into a band) and the
 * classic greeting, which users and scripts recognise.
 */

export const BANNER_LINES: readonly string[] = [
  String.raw` _/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_`,
  String.raw`|                                                         |`,
  String.raw`|   T A S K W E A V E R   ~   plan, code, answer          |`,
  String.raw`|/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_/\_|`,
];

export const GREETING =
  "TaskWeaver: I am TaskWeaver, an AI assistant. To get started, could you please enter your request?";

/** Prefix of the user's lines in the transcript. */
export const HUMAN_PREFIX = "Human: ";

/** Banner and greeting as plain text, ending with a newline. */
export function renderOpening(): string {
  return `${BANNER_LINES.join("\n")}\n${GREETING}\n`;
}
