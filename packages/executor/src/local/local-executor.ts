import { resolve } from "node:path";
import type { AppConfig, CodeExecutor, ExecutorFactory, IdGenerator } from "@taskweaver/core";
import { createKernelExecutor } from "../kernel-executor.js";
import { createWorkingDirectoryFiles } from "../working-directory.js";
import { createLocalKernelLauncher } from "./local-kernel.js";
import { findPythonWithIpykernel } from "./python-discovery.js";

/** Options of `createLocalExecutor`. */
export interface LocalExecutorOptions {
  /** Host directory the kernel runs in (created when missing); files and artifacts live here. */
  workingDirectory: string;
  /**
   * Python executable with ipykernel. Used as given, without a check (a Python that cannot run
   * the kernel fails at start with a message naming the install command).
   * @default the first of `python3` on PATH and `/usr/bin/python3` that can `import ipykernel`
   */
  python?: string;
  /** Resolves the Python to use; overrides `python` (lets a factory discover it once for all sessions). */
  resolvePython?: () => Promise<string>;
  /** @default 300000 */
  executionTimeoutMs?: number;
  /** @default 100000 */
  maxOutputChars?: number;
  /** @default 5000 */
  interruptGraceMs?: number;
  /** @default "ipc" */
  transport?: "ipc" | "tcp";
  /** @default 60000 */
  startTimeoutMs?: number;
  /** Extra environment variables for the kernel, e.g. `PLUGIN_<name>_<var>` values. */
  env?: Record<string, string | undefined>;
  /** @default core's createId */
  createId?: IdGenerator;
}

/** A `CodeExecutor` running an IPython kernel as a child process of this host. */
export function createLocalExecutor(options: LocalExecutorOptions): CodeExecutor {
  const workingDirectory = resolve(options.workingDirectory);
  let python: Promise<string> | undefined;
  const configured = options.python;
  const resolvePython =
    options.resolvePython ??
    (configured ? () => Promise.resolve(configured) : () => (python ??= findPythonWithIpykernel()));
  return createKernelExecutor({
    launcher: createLocalKernelLauncher({
      resolvePython,
      transport: options.transport,
      startTimeoutMs: options.startTimeoutMs,
      env: options.env,
    }),
    kernelWorkingDirectory: workingDirectory,
    hostWorkingDirectory: workingDirectory,
    files: createWorkingDirectoryFiles(workingDirectory),
    info: {
      kind: "local",
      details: { workingDirectory, ...(options.python ? { python: options.python } : {}) },
    },
    executionTimeoutMs: options.executionTimeoutMs,
    maxOutputChars: options.maxOutputChars,
    interruptGraceMs: options.interruptGraceMs,
    supportOptions: { parent_pid: process.pid },
    createId: options.createId,
  });
}

/**
 * The local runtime's factory for one app: Python is discovered once (on the first kernel) and
 * shared by every session's executor.
 */
export function createLocalExecutorFactory(config: AppConfig): ExecutorFactory {
  const configured = config.get("execution_service.python");
  let python: Promise<string> | undefined;
  const resolvePython = () => {
    if (configured) return Promise.resolve(configured);
    python ??= findPythonWithIpykernel();
    // A failed discovery is retried next time (the user may install ipykernel meanwhile).
    python.catch(() => (python = undefined));
    return python;
  };
  return (request) =>
    createLocalExecutor({
      workingDirectory: request.workingDirectory,
      python: configured,
      resolvePython,
      executionTimeoutMs: config.get("execution_service.execution_timeout") * 1000,
      maxOutputChars: config.get("execution_service.max_output_chars"),
    });
}
