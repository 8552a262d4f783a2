import type { RoleFactory } from "./role.js";

/**
 * Built-in roles beyond the Planner and the CodeInterpreter, by their `session.roles` name
 * (`code_interpreter_cli_only`, `code_interpreter_plugin_only`, `echo`, `recepta`,
 * `image_reader`). Merged into `BUILT_IN_ROLES`.
 */
export const EXTRA_ROLES: Record<string, RoleFactory> = {};
