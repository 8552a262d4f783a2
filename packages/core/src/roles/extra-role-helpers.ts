import type { Round } from "../memory/types.js";

/**
 * Small routing helpers shared by the extra worker roles (CLI, plugin-only): who asked, and
 * how many self-retries a request has used so far.
 */

/** The last role other than `alias` that sent `alias` a request in this round. */
export function findRequester(round: Round, alias: string): string | undefined {
  for (let index = round.post_list.length - 1; index >= 0; index -= 1) {
    const post = round.post_list[index]!;
    if (post.send_to === alias && post.send_from !== alias) return post.send_from;
  }
  return undefined;
}

/** Self-retries (posts from `alias` to itself) since the last request from another role. */
export function countTrailingRetries(round: Round, alias: string): number {
  let count = 0;
  for (let index = round.post_list.length - 1; index >= 0; index -= 1) {
    const post = round.post_list[index]!;
    if (post.send_from === alias && post.send_to === alias) count += 1;
    else break;
  }
  return count;
}

/** Keeps prompts bounded: long text keeps its head and tail with a note of what was cut. */
export function cutText(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const head = text.slice(0, Math.floor(limit * 0.7));
  const tail = text.slice(text.length - Math.floor(limit * 0.2));
  return `${head}\n... [${text.length - head.length - tail.length} characters cut] ...\n${tail}`;
}
