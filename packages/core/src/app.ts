import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { loadConfig, type AppConfig, type LoadConfigOptions } from "./config/load.js";
import { ConfigError, TaskWeaverError, toTaskWeaverError } from "./errors.js";
import type { ExecutorFactory } from "./executor/contract.js";
import { languageModelFromConfig } from "./llm/from-config.js";
import type { LanguageModel } from "./llm/types.js";
import { createId, type IdGenerator } from "./memory/ids.js";
import type { Round } from "./memory/types.js";
import type { ApproveExecution } from "./roles/approval.js";
import { createCodeInterpreter } from "./roles/code-interpreter.js";
import { roundCompressorFromConfig } from "./compression/from-config.js";
import { loadExamples, type ExampleProblem } from "./examples/load-examples.js";
import type { ExperienceStore } from "./experience/experience-store.js";
import { experienceRetrieverFromConfig, experienceStoreFromConfig } from "./experience/from-config.js";
import { saveExperience } from "./experience/save-experience.js";
import { pluginToLoadSpec, pluginToPromptSignature } from "./plugins/plugin-render.js";
import { createPluginSelector } from "./plugins/plugin-selector.js";
import { loadPlugins, type PluginProblem, type PluginSpec } from "./plugins/plugin-spec.js";
import { pluginStatuses } from "./plugins/plugin-status.js";
import { EXTRA_ROLES } from "./roles/extra-roles.js";
import { verificationPolicyFromConfig } from "./verification/policy.js";
import { createCodeVerifier } from "./verification/verify-code.js";
import { connectMcpServers, type McpSessionServers } from "./mcp/mcp-session.js";
import { createPlanner } from "./roles/planner.js";
import type { Role, RoleFactory, RoleServices } from "./roles/role.js";
import { Session } from "./session/session.js";
import { internalStepLimit } from "./session/stop-conditions.js";

export interface CreateTaskWeaverOptions {
  /** App directory; when absent, the nearest folder upward from `cwd` holding `taskweaver_config.json`. */
  appDir?: string;
  /** @default process.cwd() */
  cwd?: string;
  /** @default process.env */
  env?: Record<string, string | undefined>;
  /** Highest-priority config values in dotted notation, e.g. `{ "llm.model": "gpt-4o" }`. */
  configOverrides?: Record<string, unknown>;
  /**
   * Builds the executor factory from the config, e.g. `createExecutorFactory` of
   * `@taskweaver/executor`. One of this and `executorFactory` is required.
   */
  createExecutorFactory?: (config: AppConfig) => ExecutorFactory;
  /** A ready executor factory (takes precedence over `createExecutorFactory`). */
  executorFactory?: ExecutorFactory;
  /** Use this model for every role instead of the configured one. */
  languageModel?: LanguageModel;
  /** `fetch` used by the model client. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Extra roles by name, usable in `session.roles`; they may replace built-in ones. */
  roles?: Record<string, RoleFactory>;
  /** @default TaskWeaver-style ids */
  generateId?: IdGenerator;
  /**
   * Decides whether code that needs approval runs (`code_interpreter.require_confirmation`, or
   * a plugin with `requires_confirmation`), in every session unless the session or the message
   * gives its own. Without one, such code is rejected and the model told so. @default none
   */
  approveExecution?: ApproveExecution;
}

export interface CreateSessionOptions {
  /** Reuse an id, e.g. to continue a stored session in its working directory. @default a new id */
  sessionId?: string;
  /** Rounds of a stored session to continue from. */
  rounds?: readonly Round[];
  /** Prepended once to the next user message (e.g. "the kernel was restarted: variables are gone"). */
  note?: string;
  /** Start the kernel now, in the background. @default true */
  warmUp?: boolean;
  /**
   * Restore the session's kernel snapshot (if it has one) into its next kernel; `false` discards
   * it instead (the kernel it would stand for is still running). @default true
   */
  restoreSnapshot?: boolean;
  /** Decides on code that needs approval in this session. @default the app's `approveExecution` */
  approveExecution?: ApproveExecution;
}

/** An app directory loaded and ready to open sessions. */
export interface TaskWeaverApp {
  readonly config: AppConfig;
  /** The model roles use unless they have their own `llm_alias`. */
  readonly languageModel: LanguageModel;
  /**
   * Enabled plugins (loaded on first use) and the plugin files that could not be loaded, each
   * naming its file and field; the other plugins still work.
   */
  plugins(): Promise<{ plugins: readonly PluginSpec[]; problems: readonly PluginProblem[] }>;
  /** Problems noticed while running that did not stop it (an unreadable experience file, ...). */
  readonly warnings: readonly string[];
  createSession(options?: CreateSessionOptions): Promise<Session>;
  /**
   * Example files (`planner.example_base_path`, `code_generator.example_base_path`) that cannot
   * be used and are left out, naming file and field; empty when `<role>.use_example` is off.
   */
  exampleProblems(): Promise<readonly ExampleProblem[]>;
  /** Stops every session's kernel, and kernels the runtime started ahead (warm pool). */
  close(): Promise<void>;
}

/** The roles that ship with TaskWeaver, by their `session.roles` name. */
export const BUILT_IN_ROLES: Record<string, RoleFactory> = {
  ...EXTRA_ROLES,
  code_interpreter: async (services) => {
    const config = services.config;
    const plugins = (await services.plugins()).filter((plugin) => !plugin.plugin_only);
    const verifier = config.get("code_interpreter.code_verification_on")
      ? createCodeVerifier(
          verificationPolicyFromConfig(config, { extraAllowedFunctions: plugins.map((plugin) => plugin.name) }),
        )
      : undefined;
    const model = services.languageModel(config.get("code_generator.llm_alias"));
    return createCodeInterpreter({
      model,
      executor: services.executor,
      experience: services.experience("code_generator"),
      compressor: roundCompressorFromConfig(config, "code_generator", { model }),
      verifier,
      pluginSignatures: pluginSignaturesFor(config, plugins, services),
      examples: () => services.examples("code_generator"),
      maxRetryCount: config.get("code_interpreter.max_retry_count"),
      responseFormat: config.get("llm.response_format"),
      codePrefix: config.get("code_interpreter.code_prefix") || undefined,
      executionTimeoutMs: config.get("execution_service.execution_timeout") * 1000,
      requireConfirmation: config.get("code_interpreter.require_confirmation"),
      confirmationPlugins: plugins.filter((plugin) => plugin.requires_confirmation).map((plugin) => plugin.name),
    });
  },
  planner: (services) => {
    const model = services.languageModel(services.config.get("planner.llm_alias"));
    return createPlanner({
      model,
      workers: services.workers(),
      experience: services.experience("planner"),
      compressor: roundCompressorFromConfig(services.config, "planner", { model }),
      examples: () => services.examples("planner"),
      maxSelfCorrections: services.config.get("planner.max_self_correction"),
      responseFormat: services.config.get("llm.response_format"),
    });
  },
};

/** Plugin signatures for the prompt: all plugins, or the top-k per request with auto-selection on. */
function pluginSignaturesFor(
  config: AppConfig,
  plugins: readonly PluginSpec[],
  services: RoleServices,
): string | ((request: string, signal: AbortSignal) => Promise<string | undefined>) | undefined {
  if (plugins.length === 0) return undefined;
  const render = (selected: readonly PluginSpec[]) =>
    selected.length > 0 ? selected.map(pluginToPromptSignature).join("\n\n") : undefined;
  // Plugins that failed to load into the kernel are left out, so the model does not plan with them.
  const usable = async () => {
    const unavailable = await services.unavailablePlugins();
    return unavailable.size === 0 ? plugins : plugins.filter((plugin) => !unavailable.has(plugin.name));
  };
  if (!config.get("code_generator.enable_auto_plugin_selection")) return async () => render(await usable());
  const selector = createPluginSelector({
    plugins,
    model: services.languageModel(config.get("code_generator.llm_alias")),
    topK: config.get("code_generator.auto_plugin_selection_topk"),
    cacheFile: join(config.get("plugin.base_path"), ".plugin_embeddings.json"),
  });
  return async (request, signal) => {
    const candidates = new Set((await usable()).map((plugin) => plugin.name));
    return render((await selector.select(request, { signal })).filter((plugin) => candidates.has(plugin.name)));
  };
}

/**
 * Loads an app directory (config, model) and returns an app that opens sessions.
 * Throws `ConfigError` for a bad config and `LlmNotConfiguredError` when no model is set.
 */
export async function createTaskWeaver(options: CreateTaskWeaverOptions = {}): Promise<TaskWeaverApp> {
  const loadOptions: LoadConfigOptions = {
    appDir: options.appDir,
    cwd: options.cwd,
    env: options.env,
    overrides: options.configOverrides,
  };
  const config = loadConfig(loadOptions);
  const executorFactory = options.executorFactory ?? options.createExecutorFactory?.(config);
  if (!executorFactory) {
    throw new ConfigError("createTaskWeaver needs an executor: pass createExecutorFactory from @taskweaver/executor.");
  }
  const generateId = options.generateId ?? createId;
  const factories = { ...BUILT_IN_ROLES, ...options.roles };
  const roleNames = config.get("session.roles");
  for (const name of roleNames) {
    if (!factories[name]) {
      throw new ConfigError(
        `session.roles names "${name}", which is not a role. Known roles: ${Object.keys(factories).join(", ")}.`,
      );
    }
  }
  if (roleNames.length === 0) throw new ConfigError("session.roles is empty; use for example [\"planner\", \"code_interpreter\"].");

  const models = new Map<string, LanguageModel>();
  const defaultModel = options.languageModel ?? languageModelFromConfig(config, { fetch: options.fetch });
  const languageModel = (alias?: string): LanguageModel => {
    if (!alias || options.languageModel) return defaultModel;
    let model = models.get(alias);
    if (!model) {
      model = languageModelFromConfig(config, { fetch: options.fetch, alias });
      models.set(alias, model);
    }
    return model;
  };

  let pluginsPromise: Promise<{ plugins: PluginSpec[]; problems: PluginProblem[] }> | undefined;
  const plugins = () => {
    pluginsPromise ??= config.get("code_generator.load_plugin")
      ? loadPlugins(config.get("plugin.base_path"))
      : Promise.resolve({ plugins: [], problems: [] });
    return pluginsPromise;
  };

  // One experience store per app, so saved sessions are summarised once.
  let experienceStore: ExperienceStore | undefined;
  const experienceStoreOf = () => (experienceStore ??= experienceStoreFromConfig(config, defaultModel));
  const experience = (kind: "planner" | "code_generator") =>
    config.get(`${kind}.use_experience`)
      ? experienceRetrieverFromConfig(config, kind, experienceStoreOf(), {
          onProblem: (problem) => {
            warnings.push(
              TaskWeaverError.isInstance(problem)
                ? `experience: ${problem.message}`
                : `experience file ${problem.file}: ${problem.message}`,
            );
          },
        })
      : undefined;
  const warnings: string[] = [];

  const sessions = new Set<Session>();
  const workspace = config.get("workspace.workspace_path");

  return {
    config,
    languageModel: defaultModel,
    plugins,
    warnings,
    async exampleProblems() {
      const problems: ExampleProblem[] = [];
      for (const kind of ["planner", "code_generator"] as const) {
        if (!config.get(`${kind}.use_example`)) continue;
        await loadExamples(config.get(`${kind}.example_base_path`), {
          roleAliases: [],
          onProblem: (problem) => problems.push(problem),
        });
      }
      return problems;
    },
    async createSession(sessionOptions: CreateSessionOptions = {}) {
      const id = sessionOptions.sessionId ?? generateId("session");
      if (!/^[A-Za-z0-9_.-]+$/.test(id) || id.startsWith(".")) {
        throw new ConfigError(`"${id}" is not a valid session id (letters, digits, "-", "_" and "." only).`);
      }
      const workingDirectory = join(workspace, "sessions", id, "cwd");
      await mkdir(workingDirectory, { recursive: true }).catch((error: unknown) => {
        throw new ConfigError(
          `Cannot create the session folder ${workingDirectory} (under workspace.workspace_path): ${(error as Error).message}`,
          { cause: error },
        );
      });

      const mcpServers = config.get("mcp.servers");
      // Tool lists are needed for the roles' prompts; a server that fails is reported, not thrown.
      const mcp: McpSessionServers | undefined =
        Object.keys(mcpServers).length > 0
          ? await connectMcpServers(mcpServers, {
              cwd: config.appDir,
              configFile: config.configFile ?? config.appDir,
              startTimeoutMs: config.get("mcp.start_timeout") * 1000,
            })
          : undefined;
      // Roles are built before the session that owns them; they reach its kernel through this.
      const owner: { session?: Session } = {};
      const built: Role[] = [];
      const examples = new Map<string, Promise<Round[][]>>();
      let loadedSpecs: readonly PluginSpec[] = [];
      const services: RoleServices = {
        config,
        languageModel,
        executor: () => owner.session!.executor(),
        workers: () => built.filter((role) => role.alias !== "Planner"),
        plugins: async () => [...(await plugins()).plugins, ...(mcp?.plugins ?? [])],
        unavailablePlugins: async () => {
          // Waits for the kernel's set-up, which loads the plugins. Without a kernel (it failed
          // to start) nothing is known to be missing: the failure shows where code runs.
          const executor = await owner.session!.executor().catch(() => undefined);
          return new Set(executor?.pluginStates?.filter((state) => !state.loaded).map((state) => state.name));
        },
        experience,
        examples: (kind) => {
          let loaded = examples.get(kind);
          if (!loaded) {
            loaded = config.get(`${kind}.use_example`)
              ? loadExamples(config.get(`${kind}.example_base_path`), {
                  roleAliases: built.map((role) => role.alias),
                  // Reported once by exampleProblems(); a session goes on without the file.
                  onProblem: () => {},
                }).then((conversations) => conversations.map((conversation) => conversation.rounds))
              : Promise.resolve([]);
            examples.set(kind, loaded);
          }
          return loaded;
        },
      };
      // A session that fails to be built must not leave its MCP servers running.
      const abandon = async (error: Error): Promise<Error> => {
        await mcp?.close();
        return error;
      };
      // Workers first, so the Planner can describe them.
      const ordered = [...roleNames.filter((name) => name !== "planner"), ...roleNames.filter((name) => name === "planner")];
      for (const name of ordered) {
        // A role factory of the library user may throw anything; callers get a TaskWeaverError.
        built.push(
          await Promise.resolve()
            .then(() => factories[name]!(services))
            .catch(async (error: unknown) => {
              throw await abandon(toTaskWeaverError(error));
            }),
        );
      }
      const codeInterpreters = built.filter((role) => role.isCodeInterpreter);
      if (codeInterpreters.length > 1) {
        throw await abandon(new ConfigError(`session.roles has ${codeInterpreters.length} code interpreters; only one is allowed.`));
      }
      const planner = built.find((role) => role.alias === "Planner");
      const entryRole = planner?.alias ?? built[0]!.alias;
      if (!planner && built.length > 1) {
        throw await abandon(new ConfigError("Without a planner, session.roles must hold exactly one role (e.g. [\"code_interpreter\"])."));
      }

      const session = new Session({
        id,
        workingDirectory,
        roles: built,
        entryRole,
        stopConditions: [internalStepLimit(config.get("session.max_internal_chat_round_num"))],
        executorFactory,
        prepareExecutor: async (executor) => {
          // One plugin that cannot load (a missing module, an error at import) is reported
          // through the session's plugin statuses; the others and the kernel keep working.
          loadedSpecs = (await plugins()).plugins;
          for (const plugin of loadedSpecs) await executor.loadPlugin(pluginToLoadSpec(plugin));
          await mcp?.attach(executor);
        },
        pluginStatuses: (executor) => [
          ...pluginStatuses(loadedSpecs, executor.pluginStates ?? [], config.appDir),
          ...(mcp?.statuses(executor) ?? []),
        ],
        generateId,
        approveExecution: sessionOptions.approveExecution ?? options.approveExecution,
        confirmationTimeoutMs: config.get("code_interpreter.confirmation_timeout") * 1000,
        traceContent: config.get("tracing.record_content"),
        rounds: sessionOptions.rounds,
        pendingNote: sessionOptions.note,
        // In the session's folder, beside (not in) the working directory the model's code sees.
        snapshot: {
          path: join(workspace, "sessions", id, "kernel-snapshot.bin"),
          maxBytes: config.get("execution_service.snapshot_max_bytes"),
          restore: sessionOptions.restoreSnapshot !== false,
        },
        onStopped: async () => {
          sessions.delete(session);
          await mcp?.close();
        },
        saveExperience: async (rounds) => {
          const saved = await saveExperience(rounds, { experienceDir: config.get("session.experience_dir"), sessionId: id });
          // Sessions of this app use the new lessons from their next round on.
          if (experienceStore) await experienceStore.load();
          return saved;
        },
      });
      owner.session = session;
      sessions.add(session);
      if (sessionOptions.warmUp !== false && codeInterpreters.length > 0) session.warmUp();
      return session;
    },
    async close() {
      await Promise.all([...sessions].map((session) => session.stop()));
      sessions.clear();
      await executorFactory.dispose?.();
    },
  };
}
