import type { AppConfig } from "../config/load.js";
import type { CodeExecutor } from "../executor/contract.js";
import type { LanguageModel } from "../llm/types.js";
import type { IdGenerator } from "../memory/ids.js";
import type { Post, Round } from "../memory/types.js";
import type { ExperienceRetriever } from "../experience/experience-store.js";
import type { PluginSpec } from "../plugins/plugin-spec.js";
import type { PostBuilder } from "./post-builder.js";

/** What a role sees when it is asked to reply. */
export interface RoleContext {
  sessionId: string;
  /** Finished earlier rounds (failed rounds are left out) and then the current round. */
  rounds: readonly Round[];
  /** The round in progress (also the last entry of `rounds`). */
  round: Round;
  /** The post this role must answer. */
  incoming: Post;
  /** Starts the role's reply post; it streams events as the role fills it. */
  startPost(): PostBuilder;
  signal: AbortSignal;
  /** The aliases of all roles in the session, `User` excluded. */
  roleAliases: readonly string[];
  generateId: IdGenerator;
}

/**
 * A participant of a round. Planner and CodeInterpreter are roles like any other; a library
 * user can register their own with `createTaskWeaver({ roles: { name: factory } })`.
 */
export interface Role {
  /** The name used in routing (`send_to`), e.g. `CodeInterpreter`. */
  readonly alias: string;
  /** One or two sentences telling the Planner what this role can do. */
  readonly description: string;
  /** True for roles that run code (at most one per session). */
  readonly isCodeInterpreter?: boolean;
  reply(context: RoleContext): Promise<Post>;
}

/** What a role factory gets to build a role. */
export interface RoleServices {
  config: AppConfig;
  /** The model for this role, honouring `<role>.llm_alias`. */
  languageModel(alias?: string): LanguageModel;
  /** The session's kernel; started on first use. */
  executor(): Promise<CodeExecutor>;
  /** The other roles of the session (built before this one when listed earlier). */
  workers(): readonly Role[];
  /** Enabled plugins of the app (`plugin.base_path`), empty when `code_generator.load_plugin` is off. */
  plugins(): Promise<readonly PluginSpec[]>;
  /**
   * Names of the plugins that failed to load into the session's kernel (waits for its set-up,
   * so call it when replying). Roles leave these out of their prompts.
   */
  unavailablePlugins(): Promise<ReadonlySet<string>>;
  /**
   * Few-shot example conversations of a kind (`planner` or `code_generator`), filtered to the
   * session's roles; empty when `<kind>.use_example` is off. Call it when replying, once all
   * roles exist.
   */
  examples(kind: "planner" | "code_generator"): Promise<readonly Round[][]>;
  /** Lessons from saved sessions for a request, when `<kind>.use_experience` is on. */
  experience(kind: "planner" | "code_generator"): ExperienceRetriever | undefined;
}

/** Builds a role for one session. */
export type RoleFactory = (services: RoleServices) => Role | Promise<Role>;
