import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "@taskweaver/core";
import { afterEach, describe, expect, it } from "vitest";
import { findCaseFiles, loadEvalCase } from "./case-file.js";

let root: string;
afterEach(() => rmSync(root, { recursive: true, force: true }));

function write(path: string, text: string): string {
  const full = join(root, path);
  mkdirSync(join(full, ".."), { recursive: true });
  writeFileSync(full, text);
  return full;
}

function setUp(): void {
  root = mkdtempSync(join(tmpdir(), "tw-case-"));
}

function loadError(file: string): ConfigError {
  try {
    loadEvalCase(file, undefined, root);
  } catch (error) {
    if (ConfigError.isInstance(error)) return error as ConfigError;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("loadEvalCase", () => {
  it("loads a case of the original's format with every field", () => {
    setUp();
    write("cases/calc/demo_data.csv", "a\n1\n");
    mkdirSync(join(root, "cases", "project"));
    const file = write(
      "cases/calc/calc.yaml",
      `version: 0.1
config_var:
  execution_service.kernel_mode: "local"
  session.roles: ["planner", "code_interpreter"]
app_dir: ../project/
dependencies: ["numpy", "pandas>=1.0"]
data_files:
  - demo_data.csv
pre_command: ["echo ready"]
verbose: true
task_description: calculate the mean of demo_data.csv
scoring_points:
  - score_point: "The mean is 1"
    weight: 2
  - score_point: The file is left unchanged
    weight: 1
    eval_code: |-
      assert open('demo_data.csv').read() == 'a\\n1\\n'
  - score_point: judged by the model
    weight: 0.5
    eval_code: null
`,
    );
    const loaded = loadEvalCase(file, "calc/calc.yaml", root);
    expect(loaded).toMatchObject({
      name: "calc/calc.yaml",
      configVar: { "execution_service.kernel_mode": "local", "session.roles": ["planner", "code_interpreter"] },
      appDir: join(root, "cases", "project"),
      dependencies: ["numpy", "pandas>=1.0"],
      dataFiles: [join(root, "cases", "calc", "demo_data.csv")],
      preCommands: ["echo ready"],
      verbose: true,
      taskDescription: "calculate the mean of demo_data.csv",
    });
    expect(loaded.scoringPoints).toEqual([
      { scorePoint: "The mean is 1", weight: 2, evalCode: undefined },
      { scorePoint: "The file is left unchanged", weight: 1, evalCode: "assert open('demo_data.csv').read() == 'a\\n1\\n'" },
      { scorePoint: "judged by the model", weight: 0.5, evalCode: undefined },
    ]);
  });

  it("resolves app_dir from the current directory when it is not beside the case, as the original ran from auto_eval/", () => {
    setUp();
    mkdirSync(join(root, "project"));
    mkdirSync(join(root, "auto_eval"));
    const file = write("auto_eval/cases/echo/echo.yaml", "app_dir: ../project/\ntask_description: t\nscoring_points: [{score_point: p, weight: 1}]\n");
    expect(loadEvalCase(file, undefined, join(root, "auto_eval")).appDir).toBe(join(root, "project"));
  });

  it("names the file and the field of a scoring point without a weight", () => {
    setUp();
    const file = write("bad.yaml", "task_description: t\nscoring_points:\n  - score_point: p\n");
    const error = loadError(file);
    expect(error.message).toContain(file);
    expect(error.message).toMatch(/field "scoring_points\[0\]\.weight" .* \(it is missing\)/);
  });

  it("names a weight that is not a positive number, with the value found", () => {
    setUp();
    const file = write("bad.yaml", "task_description: t\nscoring_points:\n  - score_point: p\n    weight: -1\n");
    expect(loadError(file).message).toMatch(/field "scoring_points\[0\]\.weight" must be a number above 0 \(found -1\)/);
  });

  it("names a missing task_description and empty scoring_points", () => {
    setUp();
    const file = write("bad.yaml", "scoring_points: []\n");
    const message = loadError(file).message;
    expect(message).toMatch(/field "task_description"/);
    expect(message).toMatch(/field "scoring_points" needs at least one scoring point/);
  });

  it("refuses YAML that does not parse, naming the file", () => {
    setUp();
    const file = write("broken.yaml", "task_description: [unclosed\n");
    expect(loadError(file).message).toMatch(/broken\.yaml cannot be read as YAML/);
  });
});

describe("findCaseFiles", () => {
  it("finds cases in a folder and one subfolder down, named relative to it, in order", () => {
    setUp();
    write("cases/b.yaml", "");
    write("cases/a/a.yml", "");
    write("cases/a/data.csv", "");
    write("cases/a/deeper/ignored.yaml", "");
    expect(findCaseFiles(["cases"], root).map((found) => found.name)).toEqual(["b.yaml", "a/a.yml"]);
  });

  it("refuses a folder without cases and a path that does not exist", () => {
    setUp();
    mkdirSync(join(root, "empty"));
    expect(() => findCaseFiles(["empty"], root)).toThrow(/holds no evaluation cases/);
    expect(() => findCaseFiles(["nowhere"], root)).toThrow(/does not exist/);
  });
});
