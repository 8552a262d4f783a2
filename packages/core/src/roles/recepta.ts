import type { Post } from "../memory/types.js";
import type { Role, RoleContext } from "./role.js";

export const RECEPTA_ALIAS = "Recepta";

/** What Recepta answers to anything it is sent. */
export const RECEPTA_REPLY = "Noted. Carry on with your plan.";

export interface ReceptaOptions {
  /** @default RECEPTA_REPLY */
  reply?: string;
}

/**
 * A listener for the Planner. A Planner that wants to think one more step before it asks a
 * worker or answers the User sends its reasoning to Recepta; Recepta acknowledges it at once
 * (no model call), which hands the turn straight back to the Planner.
 */
export function createRecepta(options: ReceptaOptions = {}): Role {
  const reply = options.reply ?? RECEPTA_REPLY;
  return {
    alias: RECEPTA_ALIAS,
    description:
      "Takes note of your intermediate reasoning and hands the turn back to you. Send it your thoughts " +
      "when you want to reason a step further before involving another worker or the User; it does no work itself.",
    async reply(context: RoleContext): Promise<Post> {
      const builder = context.startPost();
      builder.setRecipient(context.incoming.send_from);
      builder.setMessage(reply);
      return builder.end();
    },
  };
}
