import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** How the command is run inside the repository when it is not installed on PATH. */
export const REPOSITORY_COMMAND = "pnpm --silent taskweaver";

/**
 * The words a hint should tell the user to type: `taskweaver` when such a command is on
 * `PATH` (after `scripts/setup.sh` or `pnpm link`), else the repository's pnpm script, which
 * works from the repository without installing anything.
 */
export function cliCommand(env: Record<string, string | undefined>): string {
  for (const directory of (env["PATH"] ?? "").split(delimiter)) {
    if (directory === "") continue;
    try {
      accessSync(join(directory, "taskweaver"), constants.X_OK);
      return "taskweaver";
    } catch {
      // Not in this directory.
    }
  }
  return REPOSITORY_COMMAND;
}
