/**
 * The `taskweaver` command: parses the command line, wires the real core and executor, and
 * picks the Ink TUI on a terminal or the plain transcript otherwise. Everything it calls is a
 * pure module tested on its own; this file only connects them to the process.
 */
import { createTaskWeaver } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";
import { main } from "./main.js";
import { startInteractive } from "./tui/start.js";

const controller = new AbortController();
let interruptCount = 0;
// Transcript mode: the first Ctrl-C stops the running round and the input, a second one quits
// at once. (The TUI reads Ctrl-C as a key in raw mode, so this handler does not fire there.)
process.on("SIGINT", () => {
  interruptCount += 1;
  if (interruptCount > 1) process.exit(130);
  controller.abort();
});

const code = await main({
  argv: process.argv.slice(2),
  env: process.env,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  signal: controller.signal,
  createApp: (options) =>
    createTaskWeaver({
      appDir: options.appDir,
      configOverrides: options.configOverrides,
      env: options.env,
      createExecutorFactory,
    }),
  startInteractive: (options) =>
    startInteractive({ ...options, stdin: process.stdin, stdout: process.stdout }),
});

process.exitCode = code;
// Kernels and sockets are closed by app.close(); if some handle still lingers, do not hang.
setTimeout(() => process.exit(code), 3000).unref();
