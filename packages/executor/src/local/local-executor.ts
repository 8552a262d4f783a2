import { join, resolve } from "node:path";
import { tmpdir } from "node:os";
import type { AppConfig, CodeExecutor, ExecutorFactory, IdGenerator } from "@taskweaver/core";
import { createKernelExecutor, type KernelLauncher } from "../kernel-executor.js";
import { createWarmPool, type WarmPool } from "../warm-pool.js";
import { createWorkingDirectoryFiles } from "../internal/working-directory.js";
import { createForkKernelLauncher, forkSupported, type ForkKernelLauncher } from "./fork-kernel-launcher.js";
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
  /**
   * Starts the kernels instead of a new local launcher (a factory's shared launcher or warm pool).
   * When set, `python`, `resolvePython`, `transport`, `startTimeoutMs` and `env` are not used.
   */
  launcher?: KernelLauncher;
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
    launcher:
      options.launcher ??
      createLocalKernelLauncher({
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
 * The local runtime's executor factory: a plain `ExecutorFactory` plus `dispose()` (stops the
 * warm pool's kernels) and the pool itself when `execution_service.warm_pool_size` > 0.
 */
export type LocalExecutorFactory = ExecutorFactory & {
  /** Stops the kernels waiting in the warm pool; sessions' executors are stopped by their owners. */
  dispose(): Promise<void>;
  readonly warmPool: WarmPool | undefined;
};

/**
 * The local runtime's factory for one app: Python is discovered once (on the first kernel) and
 * shared by every session's executor. With `execution_service.warm_pool_size` > 0, that many
 * kernels are started at once in a neutral directory and handed to new sessions.
 */
export function createLocalExecutorFactory(config: AppConfig): LocalExecutorFactory {
  const configured = config.get("execution_service.python");
  let python: Promise<string> | undefined;
  const resolvePython = () => {
    if (configured) return Promise.resolve(configured);
    python ??= findPythonWithIpykernel();
    // A failed discovery is retried next time (the user may install ipykernel meanwhile).
    python.catch(() => (python = undefined));
    return python;
  };
  const maxOutputChars = config.get("execution_service.max_output_chars");
  const startTimeoutMs = config.get("execution_service.local.start_timeout") * 1000;
  const spawnLauncher = createLocalKernelLauncher({ resolvePython, startTimeoutMs });
  const kernelStart = config.get("execution_service.kernel_start");
  // "auto": fork where the platform can, once the template is up (`pnpm bench kernel` measures
  // both; starting the template costs about three spawns, so kernels wanted before it is ready
  // are spawned). The launcher falls back to spawning, said once, when the template cannot start.
  const forkLauncher: ForkKernelLauncher | undefined =
    kernelStart === "fork" || (kernelStart === "auto" && forkSupported())
      ? createForkKernelLauncher({
          resolvePython,
          startTimeoutMs,
          preloadModules: config.get("execution_service.preload_modules"),
          fallback: spawnLauncher,
          whileStarting: kernelStart === "auto" ? "spawn" : "wait",
        })
      : undefined;
  const baseLauncher = forkLauncher ?? spawnLauncher;
  const poolSize = config.get("execution_service.warm_pool_size");
  const warmPool =
    poolSize > 0
      ? createWarmPool({
          launcher: baseLauncher,
          size: poolSize,
          idleTimeoutMs: config.get("execution_service.warm_pool_idle_timeout") * 1000,
          poolDirectory: join(tmpdir(), "taskweaver-warm-pool"),
          // The same options the executor would install (a taken kernel is only bound).
          supportOptions: { parent_pid: process.pid, max_output_chars: maxOutputChars },
        })
      : undefined;
  warmPool?.fill();
  const factory: ExecutorFactory = (request) =>
    createLocalExecutor({
      workingDirectory: request.workingDirectory,
      python: configured,
      launcher: warmPool ?? baseLauncher,
      executionTimeoutMs: config.get("execution_service.execution_timeout") * 1000,
      maxOutputChars,
    });
  return Object.assign(factory, {
    dispose: async () => {
      await warmPool?.dispose();
      await forkLauncher?.dispose();
    },
    warmPool,
  });
}
