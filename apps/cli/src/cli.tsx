/**
 * The `taskweaver` command: parses the command line, wires the real core and executor, and
 * picks the Ink TUI on a terminal or the plain transcript otherwise. Everything it calls is a
 * pure module tested on its own; this file only connects them to the process.
 */
import { main } from "./main.js";

const controller = new AbortController();
let interruptCount = 0;
// Transcript mode: the first Ctrl-C stops the running round and the input, a second one quits
// at once. (The TUI reads Ctrl-C as a key in raw mode, so this handler does not fire there.)
process.on("SIGINT", () => {
  interruptCount += 1;
  if (interruptCount > 1) process.exit(130);
  controller.abort();
});
// The terminal went away or we were asked to stop: leave cleanly (stopping the kernel), and
// for sure within a few seconds. Runners such as tsx catch these signals in the child, so
// without this the process could outlive its terminal.
for (const [signal, code] of [
  ["SIGHUP", 129],
  ["SIGTERM", 143],
] as const) {
  process.on(signal, () => {
    controller.abort();
    setTimeout(() => process.exit(code), 5000).unref();
  });
}

const code = await main({
  argv: process.argv.slice(2),
  env: process.env,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  signal: controller.signal,
  // Imported on demand: `--help` needs neither the core nor Ink, the transcript needs no Ink.
  createApp: async (options) => {
    const [{ createTaskWeaver }, { createExecutorFactory }, { withTelemetry }] = await Promise.all([
      import("@taskweaver/core"),
      import("@taskweaver/executor"),
      import("./tracing.js"),
    ]);
    const app = await createTaskWeaver({
      appDir: options.appDir,
      configOverrides: options.configOverrides,
      env: options.env,
      createExecutorFactory,
    });
    return withTelemetry(app, options.env);
  },
  startInteractive: async (options) => {
    const { startInteractive } = await import("./tui/start.js");
    return startInteractive({
      ...options,
      stdin: process.stdin,
      stdout: process.stdout,
      signal: controller.signal,
    });
  },
});

process.exitCode = code;
// Kernels and sockets are closed by app.close(); if some handle still lingers, do not hang.
setTimeout(() => process.exit(code), 3000).unref();
