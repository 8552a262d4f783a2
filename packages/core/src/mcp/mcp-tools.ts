import type { PluginLoadSpec } from "../executor/contract.js";
import type { PluginParameter, PluginSpec } from "../plugins/plugin-spec.js";

const PYTHON_KEYWORDS = new Set(
  "False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield".split(" "),
);

/**
 * The Python name of a server or tool: every character that is not a letter, digit or
 * underscore becomes `_` (`get-sum` -> `get_sum`); a leading digit or a keyword gets one more `_`.
 */
export function pythonNameOf(name: string): string {
  let result = name.replace(/[^A-Za-z0-9_]/g, "_");
  if (result === "" || /^[0-9]/.test(result)) result = `_${result}`;
  if (PYTHON_KEYWORDS.has(result)) result = `${result}_`;
  return result;
}

/** What the kernel needs to bind a server: an `McpServer` of the support code, its tools by method name. */
export const MCP_SERVER_PLUGIN_SOURCE = `from taskweaver.plugin import McpServer, register_plugin

register_plugin(McpServer)
`;

/** A tool as listed by the server (the fields of MCP's `Tool` we use). */
export interface McpListedTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
}

function pythonType(schema: unknown): string {
  if (typeof schema !== "object" || schema === null) return "Any";
  const type = (schema as { type?: unknown }).type;
  const name = Array.isArray(type) ? type.find((item) => item !== "null") : type;
  switch (name) {
    case "string":
      return "str";
    case "integer":
      return "int";
    case "number":
      return "float";
    case "boolean":
      return "bool";
    case "array":
      return "list";
    case "object":
      return "dict";
    default:
      return "Any";
  }
}

function parameterDescription(schema: unknown): string {
  if (typeof schema !== "object" || schema === null) return "";
  const { description, enum: choices, default: fallback } = schema as { description?: unknown; enum?: unknown; default?: unknown };
  const parts = [typeof description === "string" ? description.trim() : ""];
  if (Array.isArray(choices)) parts.push(`one of ${choices.map((choice) => JSON.stringify(choice)).join(", ")}`);
  if (fallback !== undefined) parts.push(`default ${JSON.stringify(fallback)}`);
  return parts.filter(Boolean).join("; ");
}

/**
 * The server's tools as plugin specs named `<server>.<tool>` in Python, so they take part in
 * the CodeInterpreter's prompt, plugin selection and function calling like any plugin.
 */
export function mcpToolsToPlugins(options: {
  server: string;
  tools: readonly McpListedTool[];
  /** The config file, shown as the plugins' file. */
  configFile: string;
}): { plugins: PluginSpec[]; load: PluginLoadSpec; methods: Map<string, McpListedTool> } {
  const objectName = pythonNameOf(options.server);
  const methods = new Map<string, McpListedTool>();
  for (const tool of options.tools) {
    let method = pythonNameOf(tool.name);
    // Two tools that differ only in punctuation (`get-sum`, `get_sum`) both stay callable.
    for (let index = 2; methods.has(method); index += 1) method = `${pythonNameOf(tool.name)}_${index}`;
    methods.set(method, tool);
  }
  const load: PluginLoadSpec = {
    name: objectName,
    code: MCP_SERVER_PLUGIN_SOURCE,
    config: {
      server: options.server,
      tools: Object.fromEntries([...methods].map(([method, tool]) => [method, { name: tool.name, description: tool.description ?? "" }])),
    },
  };
  const plugins = [...methods].map(([method, tool]): PluginSpec => {
    const properties = (tool.inputSchema.properties ?? {}) as Record<string, unknown>;
    const required = new Set(Array.isArray(tool.inputSchema.required) ? (tool.inputSchema.required as string[]) : []);
    const parameters: PluginParameter[] = Object.entries(properties)
      .filter(([name]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      .map(([name, schema]) => ({ name, type: pythonType(schema), required: required.has(name), description: parameterDescription(schema) }));
    const description = [
      (tool.description ?? tool.title ?? tool.name).trim() || tool.name,
      `Tool "${tool.name}" of the MCP server "${options.server}"; keyword arguments only; raises McpToolError when the tool fails.`,
    ].join("\n");
    return {
      name: `${objectName}.${method}`,
      enabled: true,
      required: false,
      plugin_only: false,
      description,
      parameters,
      returns: [
        tool.outputSchema
          ? { name: "result", type: "dict", description: "the tool's structured content" }
          : { name: "result", type: "str", description: "the tool's text content (images become artifacts)" },
      ],
      configurations: {},
      code: objectName,
      pythonSource: MCP_SERVER_PLUGIN_SOURCE,
      specFile: options.configFile,
      codeFile: options.configFile,
      mcp: {
        server: options.server,
        tool: tool.name,
        toolName: `${objectName}__${method}`.slice(0, 64),
        inputSchema: tool.inputSchema,
        load,
      },
    };
  });
  return { plugins, load, methods };
}
