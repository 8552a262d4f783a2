import type { TaskWeaverError } from "../errors.js";
import { RoundLimitExceededError } from "../errors.js";
import type { Round } from "../memory/types.js";

/** How far a round has come, as seen by stop conditions. */
export interface RoundProgress {
  round: Round;
  /** Replies made by roles in this round so far (corrections and retries included). */
  internalSteps: number;
}

/**
 * Decides whether a round must stop before the next reply. Returns the error that ends the
 * round, or `undefined` to go on.
 */
export type StopCondition = (progress: RoundProgress) => TaskWeaverError | undefined;

/** `session.max_internal_chat_round_num`: at most `limit` role replies per round. */
export function internalStepLimit(limit: number): StopCondition {
  return (progress) => (progress.internalSteps >= limit ? new RoundLimitExceededError(limit) : undefined);
}
