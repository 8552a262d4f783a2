import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TaskWeaverError, type CodeExecutor, type ExecutionResult } from "@taskweaver/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { ConformanceOptions } from "./conformance-options.js";

/** What the suite hands the runtime when it needs an executor. */
export interface ConformanceContext {
  /** A fresh host directory for the session (runtimes that cannot use it may ignore it). */
  workingDirectory: string;
  /** The executor must keep at most this many characters of stdout+stderr per execution. */
  maxOutputChars: number;
  /** The executor must restart a kernel that ignores an interrupt after this many milliseconds. */
  interruptGraceMs: number;
}

export type { ConformanceOptions } from "./conformance-options.js";

export {
  CONFORMANCE_WORKDIR_LIMIT,
  describeWorkdirLimitConformance,
  type WorkdirLimitContext,
} from "./describe-workdir-limit.js";

const ESCAPE = String.fromCharCode(27);

function joined(parts: string[]): string {
  return parts.join("");
}

function describeFailure(result: ExecutionResult): string {
  return JSON.stringify({
    outcome: result.outcome,
    error: result.error,
    notes: result.notes,
    stderr: result.stderr,
  });
}

async function expectFileAccessError(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(TaskWeaverError.isInstance(error), `expected a TaskWeaverError, got ${String(error)}`).toBe(true);
  expect((error as TaskWeaverError).code).toBe(code);
}

/**
 * The behaviour every `CodeExecutor` must show, as a vitest suite. Each runtime (local, Docker,
 * remote) calls it with a function creating its executor; kernels are real.
 */
export function describeConformance(
  name: string,
  createExecutor: (context: ConformanceContext) => CodeExecutor | Promise<CodeExecutor>,
  options: ConformanceOptions = {},
): void {
  const timeout = options.testTimeoutMs ?? 120_000;
  if (options.unavailableReason !== undefined) {
    if (process.env.CI === "true") {
      describe(`${name} conformance`, () => {
        test("the runtime is available (required under CI=true)", () => {
          throw new Error(`The ${name} runtime cannot run here: ${options.unavailableReason}`);
        });
      });
    } else {
      describe.skip(`${name} conformance (unavailable: ${options.unavailableReason})`, () => {
        test("skipped", () => undefined);
      });
    }
    return;
  }

  const directories: string[] = [];
  const executors: CodeExecutor[] = [];
  const maxOutputChars = 20_000;
  const make = async (): Promise<CodeExecutor> => {
    const workingDirectory = await mkdtemp(join(tmpdir(), "tw-conformance-"));
    directories.push(workingDirectory);
    const executor = await createExecutor({ workingDirectory, maxOutputChars, interruptGraceMs: 2_000 });
    executors.push(executor);
    return executor;
  };
  afterAll(async () => {
    await Promise.all(executors.map((executor) => executor.stop()));
    await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
  }, 60_000);

  describe(`${name} conformance`, () => {
    let executor: CodeExecutor;
    beforeAll(async () => {
      executor = await make();
      await executor.start();
    }, timeout);

    test("keeps variables from one execution to the next", { timeout }, async () => {
      const first = await executor.execute("counter_value = 40");
      expect(first.outcome, describeFailure(first)).toBe("ok");
      const second = await executor.execute("counter_value + 2");
      expect(second.isSuccess).toBe(true);
      expect(second.output).toBe("42");
    });

    test("displays the value of the last expression and of the last assignment", { timeout }, async () => {
      const expression = await executor.execute("a_number = 6\na_number * 7");
      expect(expression.output).toBe("42");
      const assignment = await executor.execute("greeting_text = 'hello' + ' world'");
      expect(assignment.output).toBe("'hello world'");
      const statement = await executor.execute("import math");
      expect(statement.output).toBe("");
    });

    test("streams stdout and stderr while the code is still running", { timeout }, async () => {
      const seen: { stream: string; text: string; at: number }[] = [];
      const result = await executor.execute(
        "import sys, time\nprint('first line', flush=True)\nprint('a warning', file=sys.stderr, flush=True)\ntime.sleep(1.5)\nprint('second line')",
        { onOutput: (output) => seen.push({ ...output, at: Date.now() }) },
      );
      const finishedAt = Date.now();
      expect(result.outcome, describeFailure(result)).toBe("ok");
      const first = seen.find((output) => output.text.includes("first line"));
      expect(first?.stream).toBe("stdout");
      expect(finishedAt - first!.at).toBeGreaterThan(1_000);
      expect(seen.some((output) => output.stream === "stderr" && output.text.includes("a warning"))).toBe(
        true,
      );
      expect(joined(result.stdout)).toBe("first line\nsecond line\n");
      expect(joined(result.stderr)).toContain("a warning");
    });

    test("reports a Python error with its traceback and no ANSI colours", { timeout }, async () => {
      const result = await executor.execute(
        "def failing_function():\n    raise ValueError('boom')\nfailing_function()",
      );
      expect(result.outcome).toBe("error");
      expect(result.isSuccess).toBe(false);
      expect(result.error?.name).toBe("ValueError");
      expect(result.error?.value).toBe("boom");
      expect(result.error?.traceback).toContain("failing_function");
      expect(result.error?.traceback).toContain("ValueError");
      expect(result.error?.traceback).not.toContain(ESCAPE);
    });

    test("interrupts code that runs past its timeout and keeps earlier variables", { timeout }, async () => {
      await executor.execute("kept_before_timeout = 'still here'");
      const started = Date.now();
      const result = await executor.execute("print('looping', flush=True)\nwhile True:\n    pass", {
        timeoutMs: 2_000,
      });
      expect(result.outcome).toBe("timeout");
      expect(result.isSuccess).toBe(false);
      expect(result.stateLost).toBe(false);
      expect(joined(result.stdout)).toContain("looping");
      expect(result.notes.join(" ")).toMatch(/time limit/);
      expect(Date.now() - started).toBeLessThan(15_000);
      const after = await executor.execute("kept_before_timeout");
      expect(after.output).toBe("'still here'");
    });

    test("stops running code when the signal aborts", { timeout }, async () => {
      await executor.execute("kept_before_abort = 1");
      const controller = new AbortController();
      const result = await executor.execute("import time\nprint('sleeping', flush=True)\ntime.sleep(60)", {
        signal: controller.signal,
        onOutput: (output) => {
          if (output.text.includes("sleeping")) controller.abort();
        },
      });
      expect(result.outcome).toBe("interrupted");
      expect(result.durationMs).toBeLessThan(20_000);
      expect(result.stateLost).toBe(false);
      expect((await executor.execute("kept_before_abort + 1")).output).toBe("2");
    });

    test("interrupt() stops running code, reported as interrupted, variables kept", { timeout }, async () => {
      await executor.execute("kept_before_interrupt = 3");
      const running = executor.execute("import time\nprint('working', flush=True)\ntime.sleep(60)", {
        onOutput: (output) => {
          if (output.text.includes("working")) void executor.interrupt();
        },
      });
      const result = await running;
      expect(result.outcome).toBe("interrupted");
      expect(result.stateLost).toBe(false);
      expect(result.durationMs).toBeLessThan(20_000);
      expect((await executor.execute("kept_before_interrupt")).output).toBe("3");
      // A later error is an ordinary error again.
      expect((await executor.execute("raise KeyboardInterrupt()")).outcome).toBe("error");
    });

    test(
      "a throwing onOutput listener does not lose output or break the kernel connection",
      { timeout },
      async () => {
        const result = await executor.execute("print('one', flush=True)\nprint('two')\n'done'", {
          onOutput: () => {
            throw new Error("listener bug");
          },
        });
        expect(result.outcome, describeFailure(result)).toBe("ok");
        expect(joined(result.stdout)).toBe("one\ntwo\n");
        expect(result.output).toBe("'done'");
        expect((await executor.execute("1 + 1")).output).toBe("2");
      },
    );

    test(
      "saves a matplotlib figure shown without an explicit save as a PNG artifact",
      { timeout },
      async () => {
        const result = await executor.execute(
          "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [2, 4, 8])\nplt.title('rising line')\nplt.show()",
        );
        expect(result.outcome, describeFailure(result)).toBe("ok");
        const images = result.artifacts.filter((artifact) => artifact.mimeType === "image/png");
        expect(images).toHaveLength(1);
        expect(images[0]!.type).toBe("image");
        expect(images[0]!.path).toMatch(/\.png$/);
        expect(images[0]!.description).toContain("rising line");
        const bytes = await executor.downloadFile(images[0]!.path);
        expect(Buffer.from(bytes.subarray(0, 8)).toString("hex")).toBe("89504e470d0a1a0a");
        expect(result.stderr.join("")).toBe("");
        // The figure was closed: the next cell reports no new artifact.
        expect((await executor.execute("1")).artifacts).toHaveLength(0);
      },
    );

    test("displays a DataFrame as HTML and plain text", { timeout }, async () => {
      const result = await executor.execute(
        "import pandas as pd\nframe = pd.DataFrame({'city': ['Oslo', 'Lima'], 'size': [1, 2]})\nframe",
      );
      expect(result.outcome, describeFailure(result)).toBe("ok");
      expect(result.output).toContain("Oslo");
      const html = result.displays.find((display) => display.data["text/html"] !== undefined);
      expect(html?.data["text/html"]).toContain("<table");
      expect(html?.data["text/html"]).toContain("Lima");
    });

    test("saves a displayed SVG as an artifact", { timeout }, async () => {
      const result = await executor.execute(
        "from IPython.display import SVG, display\n" +
          'display(SVG(\'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>\'))',
      );
      expect(result.outcome, describeFailure(result)).toBe("ok");
      expect(result.displays.some((display) => display.data["image/svg+xml"]?.includes("<rect"))).toBe(true);
      const svg = result.artifacts.find((artifact) => artifact.type === "svg");
      expect(svg?.mimeType).toBe("image/svg+xml");
      const text = Buffer.from(await executor.downloadFile(svg!.path)).toString("utf8");
      expect(text).toContain("<svg");
    });

    test("keeps 10 MB of printed output to the limit and says what was cut", { timeout }, async () => {
      let streamed = 0;
      const result = await executor.execute("for _ in range(1000):\n    print('x' * 9999)", {
        onOutput: (output) => (streamed += output.text.length),
      });
      expect(result.outcome, describeFailure(result)).toBe("ok");
      const kept = joined(result.stdout).length + joined(result.stderr).length;
      expect(kept).toBeLessThanOrEqual(maxOutputChars);
      expect(kept).toBeGreaterThan(maxOutputChars / 2);
      expect(streamed).toBeLessThan(maxOutputChars + 1_000);
      expect(result.notes.join(" ")).toMatch(/cut/);
      expect(result.notes.join(" ")).toMatch(/9980000 characters of stdout/);
      expect(JSON.stringify(result).length).toBeLessThan(maxOutputChars * 2);
    });

    test("uploads, lists and downloads files inside the working directory", { timeout }, async () => {
      const info = await executor.uploadFile("inputs/note.txt", new TextEncoder().encode("hello file"));
      expect(info).toMatchObject({ name: "inputs/note.txt", size: 10 });
      const read = await executor.execute("open('inputs/note.txt').read()");
      expect(read.output).toBe("'hello file'");
      await executor.execute(
        "with open('made_by_code.csv', 'w') as handle:\n    handle.write('a,b\\n1,2\\n')",
      );
      const names = (await executor.listFiles()).map((file) => file.name);
      expect(names).toContain("inputs/note.txt");
      expect(names).toContain("made_by_code.csv");
      expect(Buffer.from(await executor.downloadFile("made_by_code.csv")).toString("utf8")).toBe(
        "a,b\n1,2\n",
      );
      await expectFileAccessError(executor.downloadFile("missing.txt"), "file_not_found");
    });

    test("refuses paths that leave the working directory", { timeout }, async () => {
      await expectFileAccessError(
        executor.uploadFile("../escape.txt", new Uint8Array([1])),
        "path_outside_workdir",
      );
      await expectFileAccessError(
        executor.uploadFile("/tmp/escape.txt", new Uint8Array([1])),
        "path_outside_workdir",
      );
      await expectFileAccessError(executor.downloadFile("../../etc/passwd"), "path_outside_workdir");
      await expectFileAccessError(executor.downloadFile("/etc/passwd"), "path_outside_workdir");
      const link = await executor.execute("import os\nos.symlink('/etc', 'link_out')");
      expect(link.outcome, describeFailure(link)).toBe("ok");
      await expectFileAccessError(executor.downloadFile("link_out/passwd"), "path_outside_workdir");
      await expectFileAccessError(
        executor.uploadFile("link_out/planted.txt", new Uint8Array([1])),
        "path_outside_workdir",
      );
      expect((await executor.listFiles()).some((file) => file.name.startsWith("link_out"))).toBe(false);
    });

    test(
      "loads a TaskWeaver plugin that uses config, session variables, artifacts, logs and env",
      { timeout },
      async () => {
        const code = [
          "from taskweaver.plugin import Plugin, register_plugin",
          "",
          "@register_plugin",
          "class Greeter(Plugin):",
          "    def __call__(self, who):",
          "        self.log('info', 'greeting ' + who)",
          "        text = self.config['greeting'] + ', ' + who",
          "        self.ctx.add_artifact('greeting', 'greeting.txt', 'txt', text, 'the greeting')",
          "        return text + ' from ' + self.ctx.get_session_var('user', 'nobody') + ' ' + self.get_env('TOKEN')",
        ].join("\n");
        await executor.setSessionVariables({ user: "alice" });
        await executor.loadPlugin({ name: "greeter", code, config: { greeting: "Hello" } });
        await executor.execute("import os\nos.environ['PLUGIN_greeter_TOKEN'] = 't0k'");
        const result = await executor.execute("greeting_result = greeter('Bob')");
        expect(result.outcome, describeFailure(result)).toBe("ok");
        expect(result.output).toBe("'Hello, Bob from alice t0k'");
        expect(result.log).toContainEqual({ level: "info", message: "greeting Bob" });
        const artifact = result.artifacts.find((item) => item.name === "greeting");
        expect(artifact).toMatchObject({ type: "txt", mimeType: "text/plain", description: "the greeting" });
        expect(Buffer.from(await executor.downloadFile(artifact!.path)).toString("utf8")).toBe("Hello, Bob");
        expect(result.displays).toHaveLength(1);
      },
    );

    test(
      "loads a plugin written as a decorated function, and reports a broken plugin",
      { timeout },
      async () => {
        await executor.loadPlugin({
          name: "double_it",
          code: "from taskweaver.plugin import register_plugin\n\n@register_plugin\ndef double_it(value):\n    return value * 2\n",
          config: {},
        });
        expect((await executor.execute("double_it(21)")).output).toBe("42");
        const broken = await executor.loadPlugin({ name: "broken", code: "raise RuntimeError('cannot load')", config: {} });
        expect(broken).toEqual({ name: "broken", loaded: false, error: "RuntimeError: cannot load" });
        const missing = await executor.loadPlugin({
          name: "needs_missing",
          code: "import taskweaver_no_such_module\nfrom taskweaver.plugin import register_plugin\n",
          config: {},
        });
        expect(missing).toEqual({
          name: "needs_missing",
          loaded: false,
          error: "ModuleNotFoundError: No module named 'taskweaver_no_such_module'",
        });
        // The kernel goes on: the good plugin still works, and calling a broken one says why.
        expect((await executor.execute("double_it(4)")).output).toBe("8");
        const call = await executor.execute("needs_missing(1)");
        expect(call.outcome).toBe("error");
        expect(call.error?.traceback).toContain("PluginUnavailableError");
        expect(call.error?.traceback).toContain("needs_missing");
        expect(call.error?.traceback).toContain("No module named 'taskweaver_no_such_module'");
        expect(call.error?.traceback).not.toContain("import taskweaver_no_such_module");
        expect(executor.pluginStates?.map((state) => [state.name, state.loaded])).toEqual(
          expect.arrayContaining([
            ["double_it", true],
            ["broken", false],
            ["needs_missing", false],
          ]),
        );
      },
    );

    test("runs shell lines starting with !", { timeout }, async () => {
      const result = await executor.execute("!echo hi");
      expect(result.outcome, describeFailure(result)).toBe("ok");
      expect(joined(result.stdout)).toBe("hi\n");
    });

    test("restart() clears variables and keeps files and plugins", { timeout }, async () => {
      await executor.execute("lost_on_restart = 1");
      await executor.restart();
      const result = await executor.execute("'lost_on_restart' in globals()");
      expect(result.output).toBe("False");
      expect((await executor.execute("double_it(2)")).output).toBe("4");
      // A plugin that failed before fails again on the new kernel, and still only as a state.
      expect(executor.pluginStates?.find((state) => state.name === "broken")).toMatchObject({ loaded: false });
      expect((await executor.execute("broken()")).error?.name).toBe("PluginUnavailableError");
      expect((await executor.listFiles()).some((file) => file.name === "made_by_code.csv")).toBe(true);
    });
  });

  describe(`${name} conformance: kernel failures`, () => {
    let executor: CodeExecutor;
    beforeAll(async () => {
      executor = await make();
    }, timeout);

    test(
      "detects a kernel that exits and starts a fresh one for the next execution",
      { timeout },
      async () => {
        await executor.execute("doomed_variable = 1");
        const started = Date.now();
        const died = await executor.execute("import os\nos._exit(1)");
        expect(died.outcome).toBe("kernel-died");
        expect(died.isSuccess).toBe(false);
        expect(died.stateLost).toBe(true);
        expect(died.notes.join(" ")).toMatch(/died/);
        expect(Date.now() - started).toBeLessThan(10_000);
        const next = await executor.execute("'doomed_variable' in globals(), 1 + 1");
        expect(next.outcome, describeFailure(next)).toBe("ok");
        expect(next.output).toBe("(False, 2)");
      },
    );

    test(
      "restarts a kernel that ignores the interrupt and says the state was lost",
      { timeout },
      async () => {
        await executor.execute("lost_after_restart = 1");
        const result = await executor.execute(
          "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
          { timeoutMs: 1_500 },
        );
        expect(result.outcome).toBe("timeout");
        expect(result.stateLost).toBe(true);
        expect(result.notes.join(" ")).toMatch(/restarted/);
        const after = await executor.execute("'lost_after_restart' in globals()");
        expect(after.outcome, describeFailure(after)).toBe("ok");
        expect(after.output).toBe("False");
      },
    );

    test("refuses to run after stop(), and stop() is idempotent", { timeout }, async () => {
      await executor.stop();
      await executor.stop();
      const error = await executor.execute("1").then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(TaskWeaverError.isInstance(error)).toBe(true);
    });
  });
}
