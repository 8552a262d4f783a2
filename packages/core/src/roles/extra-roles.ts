import { join } from "node:path";
import { ConfigError } from "../errors.js";
import { loadPlugins } from "../plugins/plugin-spec.js";
import { createCliInterpreter } from "./cli-interpreter.js";
import { createEcho } from "./echo.js";
import { createImageReader } from "./image-reader.js";
import { createPluginInterpreter } from "./plugin-interpreter.js";
import { createRecepta } from "./recepta.js";
import type { RoleFactory } from "./role.js";

/**
 * Built-in roles beyond the Planner and the CodeInterpreter, by their `session.roles` name
 * (`code_interpreter_cli_only`, `code_interpreter_plugin_only`, `echo`, `recepta`,
 * `image_reader`). Merged into `BUILT_IN_ROLES`.
 */
export const EXTRA_ROLES: Record<string, RoleFactory> = {
  echo: (services) => createEcho({ decorator: services.config.get("echo.decorator") }),
  recepta: () => createRecepta(),
  code_interpreter_cli_only: (services) => {
    const config = services.config;
    return createCliInterpreter({
      model: services.languageModel(config.get("code_generator.llm_alias")),
      executor: services.executor,
      maxRetryCount: config.get("code_interpreter.max_retry_count"),
      responseFormat: config.get("llm.response_format"),
      executionTimeoutMs: config.get("execution_service.execution_timeout") * 1000,
    });
  },
  code_interpreter_plugin_only: async (services) => {
    const config = services.config;
    // The app's plugins (read once from plugin.base_path); the session loads them into each kernel.
    const callable = (await services.plugins()).filter((plugin) => plugin.plugin_only || plugin.mcp);
    if (callable.length === 0) {
      const directory = config.get("plugin.base_path");
      if (!config.get("code_generator.load_plugin")) {
        throw new ConfigError("code_interpreter_plugin_only needs plugins, but code_generator.load_plugin is false.");
      }
      const { problems } = await loadPlugins(directory);
      const found = problems.length > 0 ? ` Files that could not be loaded: ${problems.map((problem) => `${problem.file}: ${problem.message}`).join("; ")}.` : "";
      throw new ConfigError(
        `code_interpreter_plugin_only needs at least one enabled plugin with "plugin_only: true" in ${directory} (plugin.base_path).${found}`,
      );
    }
    return createPluginInterpreter({
      model: services.languageModel(config.get("code_generator.llm_alias")),
      executor: services.executor,
      plugins: callable,
      maxRetryCount: config.get("code_interpreter.max_retry_count"),
      executionTimeoutMs: config.get("execution_service.execution_timeout") * 1000,
      loadPluginsIntoKernel: false,
    });
  },
  image_reader: (services) => {
    const config = services.config;
    const workspace = config.get("workspace.workspace_path");
    return createImageReader({
      model: services.languageModel(config.get("image_reader.llm_alias")),
      // The session's working directory, by the same rule the app uses to create it.
      workingDirectory: (sessionId) => join(workspace, "sessions", sessionId, "cwd"),
      // A remote kernel's files are not on this host: read them through the kernel instead.
      downloadFile:
        config.get("execution_service.kernel_mode") === "remote"
          ? async (name) => (await services.executor()).downloadFile(name)
          : undefined,
    });
  },
};
