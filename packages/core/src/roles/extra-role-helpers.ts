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
