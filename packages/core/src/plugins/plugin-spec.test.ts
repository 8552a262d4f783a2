import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadPlugins } from "./plugin-spec.js";

const directories: string[] = [];

function pluginDir(files: Record<string, string>): string {
  const directory = mkdtempSync(join(tmpdir(), "tw-plugins-"));
  directories.push(directory);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(directory, name), content);
  return directory;
}

afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const ANOMALY_YAML = `name: anomaly_detection
enabled: true
required: false
plugin_only: false
description: >-
  Detects anomalies in a time series with a 3-sigma rule.
examples: |-
  result_df, description = anomaly_detection(df, "ts", "value")
parameters:
  - name: df
    type: DataFrame
    required: true
    description: the input data
  - name: time_col_name
    type: str
    required: true
    description: name of the time column
  - name: value_col_name
    type: str
    required: true
    description: name of the value column
returns:
  - name: df
    type: DataFrame
    description: the data with an is_anomaly column
  - name: description
    type: str
    description: a summary
configurations:
  threshold: 3
`;

const ANOMALY_PY = `from taskweaver.plugin import Plugin, register_plugin

@register_plugin
class AnomalyDetection(Plugin):
    def __call__(self, df, time_col_name, value_col_name):
        return df, "ok"
`;

describe("loadPlugins", () => {
  it("loads a plugin spec with its Python file and fills defaults", async () => {
    const directory = pluginDir({
      "anomaly_detection.yaml": ANOMALY_YAML,
      "anomaly_detection.py": ANOMALY_PY,
      "minimal.yaml": "name: minimal\ndescription: does little\n",
      "minimal.py": "# minimal\n",
    });
    const { plugins, problems } = await loadPlugins(directory);
    expect(problems).toEqual([]);
    expect(plugins.map((plugin) => plugin.name)).toEqual(["anomaly_detection", "minimal"]);
    const [anomaly, minimal] = plugins;
    expect(anomaly).toMatchObject({
      name: "anomaly_detection",
      enabled: true,
      required: false,
      plugin_only: false,
      description: "Detects anomalies in a time series with a 3-sigma rule.",
      code: "anomaly_detection",
      configurations: { threshold: 3 },
      pythonSource: ANOMALY_PY,
      specFile: join(directory, "anomaly_detection.yaml"),
      codeFile: join(directory, "anomaly_detection.py"),
    });
    expect(anomaly?.parameters[1]).toEqual({
      name: "time_col_name",
      type: "str",
      required: true,
      description: "name of the time column",
    });
    expect(minimal).toMatchObject({
      enabled: true,
      required: false,
      plugin_only: false,
      parameters: [],
      returns: [],
      configurations: {},
      code: "minimal",
    });
    expect(minimal?.examples).toBeUndefined();
  });

  it("treats empty keys as absent", async () => {
    const directory = pluginDir({
      "empty.yaml": "name: empty\ndescription: d\nexamples:\nparameters:\nreturns:\nconfigurations:\n",
      "empty.py": "",
    });
    const { plugins, problems } = await loadPlugins(directory);
    expect(problems).toEqual([]);
    expect(plugins[0]).toMatchObject({ parameters: [], returns: [], configurations: {} });
    expect(plugins[0]?.examples).toBeUndefined();
  });

  it("reads the Python file named by code when it differs from the name", async () => {
    const directory = pluginDir({
      "sql.yaml": "name: sql_pull_data\ndescription: pulls data\ncode: sql_impl\n",
      "sql_impl.py": "# impl\n",
    });
    const { plugins, problems } = await loadPlugins(directory);
    expect(problems).toEqual([]);
    expect(plugins[0]).toMatchObject({ name: "sql_pull_data", code: "sql_impl", pythonSource: "# impl\n" });
  });

  it("reports a bad plugin by file and field while the others still load", async () => {
    const directory = pluginDir({
      "a_good.yaml": "name: good\ndescription: fine\n",
      "good.py": "",
      "b_bad.yaml": "name: bad\ndescription: broken\nparameters:\n  - name: x\n    required: true\n",
      "bad.py": "",
    });
    const { plugins, problems } = await loadPlugins(directory);
    expect(plugins.map((plugin) => plugin.name)).toEqual(["good"]);
    expect(problems).toEqual([
      { file: join(directory, "b_bad.yaml"), message: 'field "parameters[0].type" is missing' },
    ]);
  });

  it.each([
    ["description: no name\n", 'field "name" is missing'],
    ["name: no_description\n", 'field "description" is missing'],
    ["name: 'bad-name'\ndescription: d\n", 'field "name" must be a Python identifier'],
    [
      "name: x\ndescription: d\nenabled: maybe\n",
      'field "enabled" expected boolean, received string (found "maybe")',
    ],
    ["name: x\ndescription: d\nparameters: {}\n", 'field "parameters" expected array'],
    ["name: x\ndescription: d\nconfigurations: [1]\n", 'field "configurations" expected record'],
    ["name: x\ndescription: d\ncode: ../../etc/passwd\n", 'field "code" must be a file name without a path'],
  ])("names the field at fault in %j", async (yamlText, expected) => {
    const directory = pluginDir({ "plugin.yaml": yamlText, "x.py": "" });
    const { plugins, problems } = await loadPlugins(directory);
    expect(plugins).toEqual([]);
    expect(problems).toHaveLength(1);
    expect(problems[0]?.file).toBe(join(directory, "plugin.yaml"));
    expect(problems[0]?.message).toContain(expected);
  });

  it("reports a missing Python file under the code field", async () => {
    const directory = pluginDir({ "lonely.yaml": "name: lonely\ndescription: no code\n" });
    const { problems } = await loadPlugins(directory);
    expect(problems).toEqual([
      {
        file: join(directory, "lonely.yaml"),
        message: expect.stringMatching(/^field "code": the Python file .*lonely\.py does not exist/),
      },
    ]);
  });

  it("reports a Python file that does not parse, with its line, and skips that plugin", async () => {
    const directory = pluginDir({
      "broken.yaml": "name: broken\ndescription: d\n",
      "broken.py":
        "from taskweaver.plugin import register_plugin\n\n@register_plugin\ndef broken(x:\n    return x\n",
      "fine.yaml": "name: fine\ndescription: d\n",
      "fine.py": ANOMALY_PY,
    });
    const { plugins, problems } = await loadPlugins(directory);
    expect(plugins.map((plugin) => plugin.name)).toEqual(["fine"]);
    expect(problems).toEqual([
      {
        file: join(directory, "broken.py"),
        message: expect.stringMatching(/^line [34]: invalid Python syntax/),
      },
    ]);
  });

  it("does not apply code verification rules to plugin modules", async () => {
    const directory = pluginDir({
      "sql.yaml": "name: sql\ndescription: d\n",
      "sql.py":
        "import os\nimport sqlalchemy\n\ndef sql(query):\n    return getattr(os, 'environ').get(query)\n",
    });
    const { plugins, problems } = await loadPlugins(directory);
    expect(problems).toEqual([]);
    expect(plugins).toHaveLength(1);
  });

  it("reports YAML that does not parse or is not a mapping", async () => {
    const directory = pluginDir({ "broken.yaml": "name: [unclosed\n", "list.yaml": "- a\n- b\n" });
    const { problems } = await loadPlugins(directory);
    expect(problems.map((problem) => problem.file)).toEqual([
      join(directory, "broken.yaml"),
      join(directory, "list.yaml"),
    ]);
    expect(problems[0]?.message).toMatch(/^not valid YAML/);
    expect(problems[1]?.message).toMatch(/must hold a mapping/);
  });

  it("skips disabled plugins without validating them", async () => {
    const directory = pluginDir({
      "off.yaml": "name: off\nenabled: false\n",
      "on.yml": "name: on_plugin\ndescription: d\n",
      "on_plugin.py": "",
    });
    const { plugins, problems } = await loadPlugins(directory);
    expect(problems).toEqual([]);
    expect(plugins.map((plugin) => plugin.name)).toEqual(["on_plugin"]);
  });

  it("reports a second plugin with the same name", async () => {
    const directory = pluginDir({
      "a.yaml": "name: twin\ndescription: first\n",
      "b.yaml": "name: twin\ndescription: second\n",
      "twin.py": "",
    });
    const { plugins, problems } = await loadPlugins(directory);
    expect(plugins.map((plugin) => plugin.description)).toEqual(["first"]);
    expect(problems).toEqual([
      { file: join(directory, "b.yaml"), message: expect.stringContaining('"twin" is already used by') },
    ]);
  });

  it("returns nothing for a missing folder and ignores other files", async () => {
    expect(await loadPlugins(join(tmpdir(), "tw-no-such-plugin-folder"))).toEqual({
      plugins: [],
      problems: [],
    });
    const directory = pluginDir({ "README.md": "# plugins", "helper.py": "" });
    mkdirSync(join(directory, "folder.yaml"));
    expect(await loadPlugins(directory)).toEqual({ plugins: [], problems: [] });
  });
});
