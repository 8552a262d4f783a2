import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../config/load.js";
import { CONFIG_KEYS } from "../config/keys.js";
import { ConfigError } from "../errors.js";
import { DEFAULT_BLOCKED_FUNCTIONS } from "../config/default-blocked-functions.js";
import { verificationPolicyFromConfig } from "./policy.js";
import { verifyCode } from "./verify-code.js";

const directories: string[] = [];

function appWithConfig(values: Record<string, unknown>, env: Record<string, string> = {}) {
  const appDir = mkdtempSync(join(tmpdir(), "tw-policy-"));
  directories.push(appDir);
  writeFileSync(join(appDir, "taskweaver_config.json"), JSON.stringify(values));
  return loadConfig({ appDir, env });
}

afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

describe("verificationPolicyFromConfig", () => {
  it("uses the default allowed modules and blocked functions when nothing is set", () => {
    const policy = verificationPolicyFromConfig(appWithConfig({}));
    expect(policy.allowedModules).toEqual(CONFIG_KEYS["code_interpreter.allowed_modules"].parse(undefined));
    expect(policy.blockedFunctions).toContain("open");
    expect(policy.blockedModules).toBeNull();
    expect(policy.allowedFunctions).toBeNull();
    expect(policy.allowedVariables).toBeNull();
  });

  it("lets a blocked-modules list replace the default allowed list", () => {
    const policy = verificationPolicyFromConfig(
      appWithConfig({ "code_interpreter.blocked_modules": ["os"] }),
    );
    expect(policy.allowedModules).toBeNull();
    expect(policy.blockedModules).toEqual(["os"]);
  });

  it("lets an allowed-functions list replace the default blocked list and adds plugin names", () => {
    const policy = verificationPolicyFromConfig(
      appWithConfig({ "code_interpreter.allowed_functions": ["print"] }),
      { extraAllowedFunctions: ["anomaly_detection"] },
    );
    expect(policy.allowedFunctions).toEqual(["print", "anomaly_detection"]);
    expect(policy.blockedFunctions).toBeNull();
  });

  it("does not add plugin names when functions are not limited to a list", () => {
    const policy = verificationPolicyFromConfig(appWithConfig({}), {
      extraAllowedFunctions: ["anomaly_detection"],
    });
    expect(policy.allowedFunctions).toBeNull();
  });

  it("switches a check off with an explicit null", () => {
    const policy = verificationPolicyFromConfig(appWithConfig({ "code_interpreter.allowed_modules": null }));
    expect(policy.allowedModules).toBeNull();
  });

  it("reads lists from the environment", () => {
    const policy = verificationPolicyFromConfig(
      appWithConfig({}, { CODE_INTERPRETER_ALLOWED_VARIABLES: "df, result" }),
    );
    expect(policy.allowedVariables).toEqual(["df", "result"]);
  });

  it("rejects an allowed and a blocked list both set explicitly, naming both keys", () => {
    const config = appWithConfig({
      "code_interpreter.allowed_modules": ["pandas"],
      "code_interpreter.blocked_modules": ["os"],
    });
    expect(() => verificationPolicyFromConfig(config)).toThrow(ConfigError);
    expect(() => verificationPolicyFromConfig(config)).toThrow(
      /code_interpreter\.allowed_modules .*code_interpreter\.blocked_modules/,
    );
  });

  it("produces a policy verifyCode accepts and enforces", async () => {
    const policy = verificationPolicyFromConfig(appWithConfig({}));
    expect(await verifyCode("import pandas as pd\ndf = pd.DataFrame()\ndf.describe()", policy)).toEqual([]);
    const problems = await verifyCode("import subprocess\nopen('x')", policy);
    expect(problems.map((problem) => problem.line)).toEqual([1, 2]);
  });

  it("accepts a typical analysis cell under the default policy", async () => {
    const policy = verificationPolicyFromConfig(appWithConfig({}));
    const cell = [
      "import pandas as pd",
      "import numpy as np",
      "import matplotlib.pyplot as plt",
      "from sklearn.ensemble import IsolationForest",
      "from datetime import datetime, timedelta",
      "",
      "df = pd.read_csv('demo_data.csv', parse_dates=['ts'])",
      "df = df.sort_values('ts').reset_index(drop=True)",
      "model = IsolationForest(contamination=0.05, random_state=0)",
      "df['is_anomaly'] = model.fit_predict(df[['val']]) == -1",
      "summary = df.groupby(df['ts'].dt.date)['val'].agg(['mean', 'std', 'count'])",
      "fig, ax = plt.subplots(figsize=(10, 4))",
      "ax.plot(df['ts'], df['val'], label='value')",
      "ax.scatter(df.loc[df['is_anomaly'], 'ts'], df.loc[df['is_anomaly'], 'val'], color='red')",
      "plt.savefig('anomalies.png')",
      "print(f\"{df['is_anomaly'].sum()} anomalies since {datetime.now() - timedelta(days=7):%Y-%m-%d}\")",
      "result = anomaly_detection(df, 'ts', 'val')",
      "summary",
    ].join("\n");
    expect(await verifyCode(cell, policy)).toEqual([]);
  });

  it("lets plugins be called under an allowed-functions list", async () => {
    const policy = verificationPolicyFromConfig(
      appWithConfig({ "code_interpreter.allowed_functions": ["read_csv", "print"] }),
      { extraAllowedFunctions: ["anomaly_detection"] },
    );
    const code = "import pandas as pd\ndf = pd.read_csv('a.csv')\nprint(anomaly_detection(df, 'ts', 'val'))";
    expect(await verifyCode(code, policy)).toEqual([]);
    expect(await verifyCode("df.to_csv('b.csv')", policy)).toEqual([
      { line: 1, message: expect.stringContaining('call of function "to_csv" is not allowed') },
    ]);
  });
});

describe("blocked functions: the default list is the config's", () => {
  it("takes the config default from the one list", () => {
    expect(CONFIG_KEYS["code_interpreter.blocked_functions"].parse(undefined)).toEqual([
      ...DEFAULT_BLOCKED_FUNCTIONS,
    ]);
    expect(verificationPolicyFromConfig(appWithConfig({})).blockedFunctions).toEqual([
      ...DEFAULT_BLOCKED_FUNCTIONS,
    ]);
  });

  it("blocks eval and exec under the default config", async () => {
    const policy = verificationPolicyFromConfig(appWithConfig({}));
    const problems = await verifyCode("eval('1 + 1')\nexec('x = 1')", policy);
    expect(problems.map((problem) => problem.message)).toEqual([
      expect.stringContaining('line 1: call of function "eval" is not allowed (blocked: eval, exec,'),
      expect.stringContaining('line 2: call of function "exec" is not allowed (blocked: eval, exec,'),
    ]);
  });

  it("blocks no function by name with an explicit empty code_interpreter.blocked_functions", async () => {
    const policy = verificationPolicyFromConfig(appWithConfig({ "code_interpreter.blocked_functions": [] }));
    expect(policy.blockedFunctions).toEqual([]);
    const code =
      "import pandas as pd\neval('1 + 1')\nexec('x = 1')\ncode = compile('1', 'f', 'eval')\nopen('a.csv')";
    expect(await verifyCode(code, policy)).toEqual([]);
  });

  it("keeps the reach-around checks with an empty list", async () => {
    const policy = verificationPolicyFromConfig(appWithConfig({ "code_interpreter.blocked_functions": [] }));
    const problems = await verifyCode("getattr(x, 'y')\ng = globals()\nx.__dict__\nimport builtins", policy);
    expect(problems.map((problem) => problem.line)).toEqual([1, 2, 3, 4]);
    expect(problems[0]!.message).toBe(
      'line 1: "getattr" is not allowed: it can reach around the code checks',
    );
  });

  it("blocks no function by name for a verifyCode policy without a function list", async () => {
    expect(await verifyCode("eval('1 + 1')\nexec('x = 1')\nopen('a.csv')", {})).toEqual([]);
    expect(await verifyCode("eval('1 + 1')", { allowedModules: ["pandas"] })).toEqual([]);
  });
});
