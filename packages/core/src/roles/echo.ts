import type { Post } from "../memory/types.js";
import type { Role, RoleContext } from "./role.js";

export const ECHO_ALIAS = "Echo";

export interface EchoOptions {
  /**
   * Text put before and after the echoed message (`echo.decorator`), e.g. `***` gives
   * `***hello***`.
   * @default ""
   */
  decorator?: string;
  /** @default Echo */
  alias?: string;
}

/**
 * A worker that needs no model: it sends the message it got straight back to its sender.
 * Useful to test routing and frontends, and as the smallest example of a custom role.
 */
export function createEcho(options: EchoOptions = {}): Role {
  const decorator = options.decorator ?? "";
  const alias = options.alias ?? ECHO_ALIAS;
  return {
    alias,
    description: "Repeats back, word for word, the message it is sent. It does no work and calls no model.",
    async reply(context: RoleContext): Promise<Post> {
      const builder = context.startPost();
      builder.setRecipient(context.incoming.send_from);
      builder.setMessage(`${decorator}${context.incoming.message}${decorator}`);
      return builder.end();
    },
  };
}
