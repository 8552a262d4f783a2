import { describe, expect, it } from "vitest";
import {
  pluginToLoadSpec,
  pluginToPromptSignature,
  pluginToTool,
  pythonTypeToJsonSchema,
} from "./plugin-render.js";
import type { PluginSpec } from "./plugin-spec.js";

function spec(fields: Partial<PluginSpec> = {}): PluginSpec {
  return {
    name: "anomaly_detection",
    enabled: true,
    required: false,
    plugin_only: false,
    description: "Detects anomalies in a time series.",
    parameters: [
      { name: "df", type: "DataFrame", required: true, description: "the input data" },
      { name: "time_col_name", type: "str", required: true, description: "name of the time column" },
      { name: "threshold", type: "float", required: false, description: "sigma multiplier" },
    ],
    returns: [{ name: "df", type: "DataFrame", description: "data with an is_anomaly column" }],
    configurations: { api_key: "k" },
    code: "anomaly_detection",
    pythonSource: "# source\n",
    specFile: "/plugins/anomaly_detection.yaml",
    codeFile: "/plugins/anomaly_detection.py",
    ...fields,
  };
}

describe("pluginToPromptSignature", () => {
  it("renders a Python signature with a docstring of the description, arguments and returns", () => {
    expect(pluginToPromptSignature(spec())).toBe(
      [
        "def anomaly_detection(df: DataFrame, time_col_name: str, threshold: float = None) -> DataFrame:",
        '    """Detects anomalies in a time series.',
        "",
        "    Args:",
        "        df: the input data",
        "        time_col_name: name of the time column",
        "        threshold (optional): sigma multiplier",
        "",
        "    Returns:",
        "        df (DataFrame): data with an is_anomaly column",
        '    """',
      ].join("\n"),
    );
  });

  it("gives a default only when every later parameter is optional too", () => {
    const signature = pluginToPromptSignature(
      spec({
        parameters: [
          { name: "a", type: "int", required: false, description: "" },
          { name: "b", type: "int", required: true, description: "" },
          { name: "c", type: "str", required: false, description: "" },
        ],
      }),
    );
    expect(signature.split("\n")[0]).toBe(
      "def anomaly_detection(a: int, b: int, c: str = None) -> DataFrame:",
    );
    expect(signature).toContain("a (optional): int");
  });

  it("renders several returns as a tuple and none as None", () => {
    const two = spec({
      returns: [
        { name: "df", type: "DataFrame", description: "" },
        { name: "summary", type: "str", description: "" },
      ],
    });
    expect(pluginToPromptSignature(two).split("\n")[0]).toMatch(/-> Tuple\[DataFrame, str\]:$/);
    expect(pluginToPromptSignature(spec({ returns: [], parameters: [] }))).toBe(
      'def anomaly_detection() -> None:\n    """Detects anomalies in a time series.\n    """',
    );
  });

  it("adds examples and keeps a triple quote in a description from closing the docstring", () => {
    const signature = pluginToPromptSignature(
      spec({ description: 'Say """hi"""', examples: "df2 = anomaly_detection(df, 'ts')" }),
    );
    expect(signature).toContain("Say '''hi'''");
    expect(signature).toContain("    Example:\n        df2 = anomaly_detection(df, 'ts')");
    expect(signature.match(/"""/g)).toHaveLength(2);
  });
});

describe("pythonTypeToJsonSchema", () => {
  it.each([
    ["str", { type: "string" }],
    ["int", { type: "integer" }],
    ["float", { type: "number" }],
    ["bool", { type: "boolean" }],
    ["list", { type: "array" }],
    ["List[str]", { type: "array", items: { type: "string" } }],
    ["list[int]", { type: "array", items: { type: "integer" } }],
    ["Tuple[int, ...]", { type: "array", items: { type: "integer" } }],
    ["dict", { type: "object" }],
    ["Dict[str, float]", { type: "object", additionalProperties: { type: "number" } }],
    ["DataFrame", { type: "array", items: { type: "object" } }],
    ["pd.DataFrame", { type: "array", items: { type: "object" } }],
    ["Optional[int]", { type: "integer" }],
    ["str | None", { type: "string" }],
    ["Union[int, str]", { anyOf: [{ type: "integer" }, { type: "string" }] }],
    ["typing.Any", {}],
    ["Figure", {}],
  ])("maps %s", (typeName, expected) => {
    expect(pythonTypeToJsonSchema(typeName)).toEqual(expected);
  });
});

describe("pluginToTool", () => {
  it("renders a function-calling tool with a JSON schema of the parameters", () => {
    expect(pluginToTool(spec())).toEqual({
      name: "anomaly_detection",
      description: "Detects anomalies in a time series.\nReturns: df (DataFrame).",
      parameters: {
        type: "object",
        properties: {
          df: { type: "array", items: { type: "object" }, description: "the input data (DataFrame)" },
          time_col_name: { type: "string", description: "name of the time column (str)" },
          threshold: { type: "number", description: "sigma multiplier (float)" },
        },
        required: ["df", "time_col_name"],
        additionalProperties: false,
      },
    });
  });

  it("renders a plugin without parameters or returns", () => {
    expect(pluginToTool(spec({ parameters: [], returns: [] }))).toEqual({
      name: "anomaly_detection",
      description: "Detects anomalies in a time series.",
      parameters: { type: "object", properties: {}, required: [], additionalProperties: false },
    });
  });
});

describe("pluginToLoadSpec", () => {
  it("hands the executor the name, Python source and configurations", () => {
    const loadSpec = pluginToLoadSpec(spec());
    expect(loadSpec).toEqual({ name: "anomaly_detection", code: "# source\n", config: { api_key: "k" } });
  });
});
