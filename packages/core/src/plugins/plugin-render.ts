import type { PluginLoadSpec } from "../executor/contract.js";
import type { ChatTool } from "../llm/types.js";
import type { PluginParameter, PluginSpec } from "./plugin-spec.js";

function indent(text: string, prefix: string): string {
  return text
    .split("\n")
    .map((line) => (line.trim() === "" ? "" : `${prefix}${line}`))
    .join("\n");
}

/** Docstrings end at `"""`; a description quoting one would end it early. */
function docstringSafe(text: string): string {
  return text.trim().replaceAll('"""', "'''");
}

function returnAnnotation(spec: PluginSpec): string {
  if (spec.returns.length === 0) return "None";
  if (spec.returns.length === 1) return spec.returns[0]!.type;
  return `Tuple[${spec.returns.map((value) => value.type).join(", ")}]`;
}

/**
 * Python allows a default only when every later parameter has one too, so an optional
 * parameter followed by a required one is marked optional in the docstring instead.
 */
function parameterList(parameters: readonly PluginParameter[]): string {
  return parameters
    .map((parameter, index) => {
      const restOptional = parameters.slice(index).every((later) => !later.required);
      return `${parameter.name}: ${parameter.type}${restOptional ? " = None" : ""}`;
    })
    .join(", ");
}

/**
 * The plugin as a Python function signature with a short docstring, for the prompt that
 * tells the model which functions it may call:
 *
 * ```python
 * def anomaly_detection(df: DataFrame, time_col_name: str, value_col_name: str) -> DataFrame:
 *     """Detects anomalies in a time series.
 *
 *     Args:
 *         df: the data
 *     ...
 *     """
 * ```
 */
export function pluginToPromptSignature(spec: PluginSpec): string {
  const lines = [`def ${spec.name}(${parameterList(spec.parameters)}) -> ${returnAnnotation(spec)}:`];
  const doc: string[] = [docstringSafe(spec.description)];
  if (spec.parameters.length > 0) {
    doc.push("", "Args:");
    for (const parameter of spec.parameters) {
      const optional = parameter.required ? "" : " (optional)";
      const description = docstringSafe(parameter.description) || parameter.type;
      doc.push(indent(`${parameter.name}${optional}: ${description}`, "    "));
    }
  }
  if (spec.returns.length > 0) {
    doc.push("", "Returns:");
    for (const value of spec.returns) {
      doc.push(
        indent(`${value.name} (${value.type}): ${docstringSafe(value.description) || value.type}`, "    "),
      );
    }
  }
  if (spec.examples?.trim()) doc.push("", "Example:", indent(docstringSafe(spec.examples), "    "));
  lines.push(indent(`"""${doc.join("\n")}\n"""`, "    "));
  return lines.join("\n");
}

type JsonSchema = Record<string, unknown>;

/** Splits `Dict[str, List[int]]` into its top-level type arguments. */
function typeArguments(inner: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const character of inner) {
    if (character === "[") depth += 1;
    if (character === "]") depth -= 1;
    if (character === "," && depth === 0) {
      parts.push(current.trim());
      current = "";
    } else {
      current += character;
    }
  }
  if (current.trim()) parts.push(current.trim());
  return parts;
}

/**
 * JSON Schema for a TaskWeaver (Python) type name. Unknown types get no type constraint,
 * so the model is not forced into a wrong shape; the description still names the type.
 */
export function pythonTypeToJsonSchema(typeName: string): JsonSchema {
  const type = typeName.trim().replace(/^(typing|pd|pandas|np|numpy)\./, "");
  const generic = /^(\w+)\[(.*)\]$/.exec(type);
  const base = (generic?.[1] ?? type).toLowerCase();
  const args = generic ? typeArguments(generic[2]!) : [];
  if (!generic && type.includes("|")) {
    const members = type
      .split("|")
      .map((member) => member.trim())
      .filter((member) => member !== "None");
    if (members.length === 1) return pythonTypeToJsonSchema(members[0]!);
    return { anyOf: members.map(pythonTypeToJsonSchema) };
  }
  switch (base) {
    case "str":
    case "string":
      return { type: "string" };
    case "int":
    case "integer":
      return { type: "integer" };
    case "float":
    case "number":
      return { type: "number" };
    case "bool":
    case "boolean":
      return { type: "boolean" };
    case "list":
    case "sequence":
    case "tuple":
    case "set":
    case "array":
    case "ndarray":
      return args[0] && args[0] !== "..."
        ? { type: "array", items: pythonTypeToJsonSchema(args[0]) }
        : { type: "array" };
    case "dict":
    case "mapping":
    case "object":
      return args[1]
        ? { type: "object", additionalProperties: pythonTypeToJsonSchema(args[1]) }
        : { type: "object" };
    case "dataframe":
      // A table cannot travel as a Python object through JSON: rows as objects is the closest shape.
      return { type: "array", items: { type: "object" } };
    case "optional":
      return args[0] ? pythonTypeToJsonSchema(args[0]) : {};
    case "union": {
      const members = args.filter((member) => member !== "None");
      if (members.length === 1) return pythonTypeToJsonSchema(members[0]!);
      return { anyOf: members.map(pythonTypeToJsonSchema) };
    }
    case "any":
      return {};
    default:
      return {};
  }
}

/**
 * The plugin as a function-calling tool (for `plugin_only` plugins): its description and a
 * JSON Schema of its parameters, required ones listed as such.
 */
export function pluginToTool(spec: PluginSpec): ChatTool {
  if (spec.mcp) return { name: spec.mcp.toolName, description: spec.description.trim(), parameters: spec.mcp.inputSchema };
  const properties: Record<string, JsonSchema> = {};
  for (const parameter of spec.parameters) {
    const description = parameter.description.trim()
      ? `${parameter.description.trim()} (${parameter.type})`
      : `(${parameter.type})`;
    properties[parameter.name] = { ...pythonTypeToJsonSchema(parameter.type), description };
  }
  const returns = spec.returns.map((value) => `${value.name} (${value.type})`).join(", ");
  return {
    name: spec.name,
    description: returns ? `${spec.description.trim()}\nReturns: ${returns}.` : spec.description.trim(),
    parameters: {
      type: "object",
      properties,
      required: spec.parameters.filter((parameter) => parameter.required).map((parameter) => parameter.name),
      additionalProperties: false,
    },
  };
}

/** What an executor needs to load the plugin into a kernel. */
export function pluginToLoadSpec(spec: PluginSpec): PluginLoadSpec {
  if (spec.mcp) return spec.mcp.load;
  return { name: spec.name, code: spec.pythonSource, config: { ...spec.configurations } };
}
