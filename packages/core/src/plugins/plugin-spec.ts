import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { findPythonSyntaxError } from "../verification/verify-code.js";
import type { PluginLoadSpec } from "../executor/contract.js";
import { fieldPath, valueAt } from "../parsing/zod-issues.js";

/** The tool as the model and the kernel see it. */
export interface McpToolBinding {
  /** The server's name in `mcp.servers`. */
  server: string;
  /** The tool's name on the server, e.g. `get-sum`. */
  tool: string;
  /** The function-calling name (`code_interpreter_plugin_only`), e.g. `everything__get_sum`. */
  toolName: string;
  /** The tool's input schema, offered as is to function-calling models. */
  inputSchema: Record<string, unknown>;
  /** Binds the tool's server in a kernel. */
  load: PluginLoadSpec;
}

/** Python identifiers: a plugin is called by its name in generated code. */
const PYTHON_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** One argument of a plugin, as written under `parameters:` in its YAML file. */
export const PluginParameterSchema = z.object({
  name: z.string().regex(PYTHON_IDENTIFIER, "must be a Python identifier"),
  /** TaskWeaver type name: `str`, `int`, `float`, `bool`, `list`, `dict`, `DataFrame`, ... */
  type: z.string().min(1),
  required: z.boolean().default(false),
  description: z.string().default(""),
});
export type PluginParameter = z.infer<typeof PluginParameterSchema>;

/** One value a plugin returns, as written under `returns:`. */
export const PluginReturnSchema = z.object({
  name: z.string().min(1),
  type: z.string().min(1),
  description: z.string().default(""),
});
export type PluginReturn = z.infer<typeof PluginReturnSchema>;

/** An empty YAML key (`returns:` with nothing under it) reads as null: treat it as absent. */
function emptyAsAbsent<T extends z.ZodType>(schema: T) {
  return z.preprocess((value) => (value === null ? undefined : value), schema);
}

/** The YAML file of a plugin (TaskWeaver's format; field names kept as users write them). */
export const PluginFileSchema = z.object({
  name: z.string().regex(PYTHON_IDENTIFIER, "must be a Python identifier"),
  enabled: z.boolean().default(true),
  /** Always offered to the model, even when auto-selection picks plugins. */
  required: z.boolean().default(false),
  /** Offered as a function-calling tool instead of a Python function. */
  plugin_only: z.boolean().default(false),
  /**
   * Ask before running any code that calls this plugin, even when
   * `code_interpreter.require_confirmation` is off. @default false
   */
  requires_confirmation: z.boolean().optional(),
  description: z.string().min(1, "must describe what the plugin does"),
  examples: emptyAsAbsent(z.string().optional()),
  parameters: emptyAsAbsent(z.array(PluginParameterSchema).default([])),
  returns: emptyAsAbsent(z.array(PluginReturnSchema).default([])),
  configurations: emptyAsAbsent(z.record(z.string(), z.unknown()).default({})),
  /** Python file name without `.py`, beside the YAML file. Defaults to `name`. */
  code: z
    .string()
    .regex(/^[\w.-]+$/, "must be a file name without a path")
    .optional(),
});
export type PluginFile = z.infer<typeof PluginFileSchema>;

/** A loaded, enabled plugin: its YAML fields plus its Python source. */
export interface PluginSpec extends Omit<PluginFile, "code"> {
  /** Python file name without `.py`. */
  code: string;
  /** The plugin's Python source. */
  pythonSource: string;
  /** Absolute path of the YAML file. */
  specFile: string;
  /** Absolute path of the Python file. */
  codeFile: string;
  /**
   * Set on the tools of MCP servers (`mcp.servers`): `name` is `<server>.<tool>`, a method of
   * the server's object in the kernel, and the tool is offered in both CodeInterpreter modes.
   */
  mcp?: McpToolBinding;
}

/** Why one plugin file was not loaded. */
export interface PluginProblem {
  /** Absolute path of the file at fault (the YAML file, or the Python file it names). */
  file: string;
  /** What is wrong, naming the field, e.g. `field "parameters[0].type": expected a string`. */
  message: string;
}

/** What `loadPlugins` found. */
export interface LoadedPlugins {
  /** Enabled, valid plugins in file-name order. */
  plugins: PluginSpec[];
  /** One entry per file that could not be loaded; the other plugins still load. */
  problems: PluginProblem[];
}

function describeIssues(error: z.ZodError, raw: unknown): string {
  return error.issues
    .map((issue) => {
      const path = fieldPath(issue.path);
      const value = valueAt(raw, issue.path);
      if (value === undefined) return `field "${path || "(root)"}" is missing`;
      return `field "${path || "(root)"}" ${issue.message.replace(/^Invalid (input|option): /, "")} (found ${value})`;
    })
    .join("; ");
}

async function loadPluginFile(
  specFile: string,
  directory: string,
): Promise<{ plugin?: PluginSpec; problem?: PluginProblem; disabled?: boolean }> {
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(specFile, "utf8"));
  } catch (error) {
    return {
      problem: { file: specFile, message: `not valid YAML: ${(error as Error).message.split("\n")[0]}` },
    };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return {
      problem: {
        file: specFile,
        message: "must hold a mapping of fields (name, description, parameters, ...)",
      },
    };
  }
  // A disabled plugin is switched off on purpose, often while it is unfinished: do not validate it.
  if ((raw as { enabled?: unknown }).enabled === false) return { disabled: true };
  const parsed = PluginFileSchema.safeParse(raw);
  if (!parsed.success) return { problem: { file: specFile, message: describeIssues(parsed.error, raw) } };
  const code = parsed.data.code ?? parsed.data.name;
  const codeFile = join(directory, `${code}.py`);
  let pythonSource: string;
  try {
    pythonSource = await readFile(codeFile, "utf8");
  } catch {
    return {
      problem: {
        file: specFile,
        message: `field "code": the Python file ${codeFile} does not exist (the file is named by "code", or by "name" when "code" is absent)`,
      },
    };
  }
  // A module that does not parse would fail in every session's kernel: say so once, at load.
  const syntaxError = await findPythonSyntaxError(pythonSource);
  if (syntaxError) return { problem: { file: codeFile, message: syntaxError.message } };
  return { plugin: { ...parsed.data, code, pythonSource, specFile, codeFile } };
}

/**
 * Reads every `*.yaml` / `*.yml` plugin spec in `directory` (the app's `plugin.base_path`,
 * usually `<app>/plugins`) with the Python file beside it. A missing directory means no
 * plugins. Bad files become problems; disabled plugins are skipped; the rest load.
 */
export async function loadPlugins(directory: string): Promise<LoadedPlugins> {
  let entries: string[];
  try {
    const dirents = await readdir(directory, { withFileTypes: true });
    entries = dirents.filter((entry) => !entry.isDirectory()).map((entry) => entry.name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { plugins: [], problems: [] };
    return {
      plugins: [],
      problems: [{ file: directory, message: `cannot read the plugin folder: ${(error as Error).message}` }],
    };
  }
  const specFiles = entries.filter((entry) => /\.ya?ml$/i.test(entry)).sort();
  const plugins: PluginSpec[] = [];
  const problems: PluginProblem[] = [];
  const byName = new Map<string, string>();
  for (const entry of specFiles) {
    const specFile = join(directory, entry);
    const result = await loadPluginFile(specFile, directory);
    if (result.problem) problems.push(result.problem);
    if (!result.plugin) continue;
    const previous = byName.get(result.plugin.name);
    if (previous) {
      problems.push({
        file: specFile,
        message: `field "name": the plugin name "${result.plugin.name}" is already used by ${previous}`,
      });
      continue;
    }
    byName.set(result.plugin.name, specFile);
    plugins.push(result.plugin);
  }
  return { plugins, problems };
}
