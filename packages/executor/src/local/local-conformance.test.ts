import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { describeConformance, describeWorkdirLimitConformance } from "../conformance/describe-conformance.js";
import { loadConfig } from "@taskweaver/core";
import { createLocalExecutor, createLocalExecutorFactory } from "./local-executor.js";
import { trackedKernelProcessGroups } from "./process-registry.js";
import { findPythonWithIpykernelSync } from "./python-discovery.js";

let python: string | undefined;
let unavailableReason: string | undefined;
try {
  python = findPythonWithIpykernelSync({ configured: process.env.TASKWEAVER_TEST_PYTHON });
} catch (error) {
  unavailableReason = (error as Error).message;
}

describeConformance(
  "local",
  ({ workingDirectory, maxOutputChars, interruptGraceMs }) =>
    createLocalExecutor({ workingDirectory, python, maxOutputChars, interruptGraceMs }),
  { unavailableReason },
);

describeWorkdirLimitConformance(
  "local",
  ({ workingDirectory, maxWorkdirBytes, interruptGraceMs }) =>
    createLocalExecutor({ workingDirectory, python, maxWorkdirBytes, interruptGraceMs }),
  { unavailableReason },
);

describe("local runtime specifics", () => {
  test.skipIf(unavailableReason !== undefined && process.env.CI !== "true")(
    "reports the running kernel in info, runs %pip, and saves plugin data frames and figures as artifacts",
    { timeout: 120_000 },
    async () => {
      const workingDirectory = await mkdtemp(join(tmpdir(), "tw-local-"));
      const executor = createLocalExecutor({ workingDirectory, python });
      try {
        await executor.start();
        expect(executor.info.kind).toBe("local");
        expect(Number(executor.info.details.pid)).toBeGreaterThan(0);
        expect(executor.info.details.transport).toBe("ipc");
        // IPython's %pip magic runs pip of the kernel's own Python.
        const pip = await executor.execute("%pip --version");
        expect(pip.outcome).toBe("ok");
        expect(pip.stdout.join("")).toMatch(/^pip \d+/m);
        await executor.loadPlugin({
          name: "reporter",
          code: [
            "import pandas as pd",
            "import matplotlib.pyplot as plt",
            "from taskweaver.plugin import Plugin, register_plugin",
            "",
            "@register_plugin",
            "class Reporter(Plugin):",
            "    def __call__(self):",
            "        frame = pd.DataFrame({'x': [1, 2, 3]})",
            "        self.ctx.add_artifact('table', 'table.csv', 'df', frame)",
            "        figure = plt.figure()",
            "        plt.plot(frame['x'])",
            "        self.ctx.add_artifact('plot', 'plot.png', 'chart', figure, 'the plot')",
            "        plt.close(figure)",
            "        return len(frame)",
          ].join("\n"),
          config: {},
        });
        const result = await executor.execute("reporter()");
        expect(result.output).toBe("3");
        const table = result.artifacts.find((artifact) => artifact.name === "table");
        expect(table).toMatchObject({
          type: "df",
          mimeType: "text/csv",
          description: "data frame with 3 rows and 1 columns",
        });
        expect(await readFile(join(workingDirectory, table!.path), "utf8")).toBe("x\n1\n2\n3\n");
        const plot = result.artifacts.find((artifact) => artifact.name === "plot");
        expect(plot).toMatchObject({ type: "chart", mimeType: "image/png" });
        expect((await readFile(join(workingDirectory, plot!.path))).subarray(1, 4).toString()).toBe("PNG");
        // The plugin closed its figure: no extra figure artifact from the cell hook.
        expect(result.artifacts).toHaveLength(2);
      } finally {
        await executor.stop();
        await rm(workingDirectory, { recursive: true, force: true });
      }
    },
  );

  test(
    "a kernel that does not answer in execution_service.local.start_timeout fails the start with an error naming the setting",
    { timeout: 60_000 },
    async () => {
      const directory = await mkdtemp(join(tmpdir(), "tw-local-slow-"));
      // A "Python" that starts and never answers, like a kernel stuck on a very busy machine.
      const silent = join(directory, "silent-python");
      await writeFile(silent, "#!/bin/sh\nexec sleep 30\n", { mode: 0o755 });
      const config = await loadConfig({
        appDir: directory,
        env: {},
        overrides: { "execution_service.python": silent, "execution_service.local.start_timeout": 1 },
      });
      const before = new Set(trackedKernelProcessGroups());
      const factory = createLocalExecutorFactory(config);
      const executor = await factory({ sessionId: "slow", workingDirectory: join(directory, "cwd") });
      try {
        const started = Date.now();
        const error = await executor.start().then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(String(error)).toContain("did not answer within 1 s of starting");
        expect(String(error)).toContain("raise execution_service.local.start_timeout");
        expect(Date.now() - started).toBeLessThan(15_000);
        // The silent process was killed, not left behind.
        expect(trackedKernelProcessGroups().filter((pid) => !before.has(pid))).toEqual([]);
      } finally {
        await executor.stop();
        await factory.dispose();
        await rm(directory, { recursive: true, force: true });
      }
    },
  );
});
