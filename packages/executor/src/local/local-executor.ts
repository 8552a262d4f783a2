import { join, resolve } from "node:path";
import { tmpdir } from "node:os";
import type { AppConfig, CodeExecutor, ExecutorFactory, IdGenerator } from "@taskweaver/core";
import { createKernelExecutor, type KernelLauncher } from "../kernel-executor.js";
import { createWarmPool, type WarmPool } from "../warm-pool.js";
import { createWorkingDirectoryFiles } from "../internal/working-directory.js";
import { createForkKernelLauncher, forkSupported, type ForkKernelLauncher } from "./fork-kernel-launcher.js";
import { createLocalKernelLauncher, type LocalKernelLauncherOptions } from "./local-kernel.js";
import { findPythonWithIpykernel } from "./python-discovery.js";
import { resolveSandbox, type LocalSandboxMode, type LocalSandboxOptions } from "./sandbox.js";
import { parseSize } from "../docker/container-options.js";
import { DEFAULT_MAX_WORKDIR_BYTES } from "../internal/workdir-limit.js";

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
  /**
   * Bytes the working directory may hold; an execution writing past it is stopped
   * (`execution_service.max_workdir_bytes`). @default 2147483648 (2 GiB)
   */
  maxWorkdirBytes?: number;
  /** Bubblewrap sandbox of the kernels (not used with `launcher`). @default { mode: "none" } */
  sandbox?: LocalKernelLauncherOptions["sandbox"];
}

/**
 * The parent pid the support code's watchdog expects: in a sandbox the kernel's parent is
 * bubblewrap's init (or a forked sandbox's own init), pid 1 of its namespace. Under "auto", not known before the first launch, so
 * none: the launch script's PR_SET_PDEATHSIG still ends the kernel with the host.
 */
function supportParentPid(mode: LocalSandboxMode | undefined): number | undefined {
  if (mode === "bwrap") return 1;
  if (mode === "auto") return undefined;
  return process.pid;
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
        sandbox: options.sandbox,
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
    maxWorkdirBytes: options.maxWorkdirBytes ?? DEFAULT_MAX_WORKDIR_BYTES,
    supportOptions: { parent_pid: supportParentPid(options.sandbox?.mode) },
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
  /**
   * True while the next session's kernel will start in milliseconds: forked from a running
   * template, or waiting in the warm pool. A host that limits concurrent kernel starts (they
   * are CPU-heavy when spawned) need not count these.
   */
  startsQuickly(): boolean;
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
  const kernelStart = config.get("execution_service.kernel_start");
  const poolSize = config.get("execution_service.warm_pool_size");
  const sandbox = localSandbox(config);
  const spawnLauncher = createLocalKernelLauncher({ resolvePython, startTimeoutMs });
  // Sandboxed kernels are spawned each in its own bubblewrap, or forked from a template that runs
  // in one and gives each kernel its own namespaces and its session's directory. A pooled kernel
  // would have to be in every session's sandbox at once, so the warm pool is not sandboxed.
  const sandboxSpawnLauncher = createLocalKernelLauncher({ resolvePython, startTimeoutMs, sandbox });
  const sandboxForkLauncher =
    sandbox.mode !== "none" && (kernelStart === "fork" || (kernelStart === "auto" && forkSupported()))
      ? createForkKernelLauncher({
          resolvePython,
          startTimeoutMs,
          preloadModules: config.get("execution_service.preload_modules"),
          fallback: sandboxSpawnLauncher,
          whileStarting: kernelStart === "auto" ? "spawn" : "wait",
          // A forked sandboxed kernel's parent is its sandbox's init, as under bubblewrap.
          supportOptions: { parent_pid: 1, max_output_chars: maxOutputChars },
          sandbox: { ...sandbox, workingRoots: sandbox.hiddenDirectories ?? [] },
        })
      : undefined;
  const sandboxLauncher: KernelLauncher = sandboxForkLauncher ?? sandboxSpawnLauncher;
  // "auto" gives way to a warm pool asked for by name, and says so.
  const explicitlyUnsandboxed =
    sandbox.mode === "auto" && poolSize > 0 ? `warm_pool_size is ${poolSize}` : undefined;
  const sandboxed: Promise<boolean> =
    sandbox.mode === "none" || explicitlyUnsandboxed
      ? Promise.resolve(false)
      : // A "bwrap" that does not work fails each start with the reason (from the launcher).
        resolveSandbox(sandbox.mode).catch(() => true);
  if (explicitlyUnsandboxed) {
    process.stderr.write(
      `taskweaver: local kernels run without a sandbox because ${explicitlyUnsandboxed}; set execution_service.local.sandbox to "bwrap" to sandbox them (no warm pool).\n`,
    );
  } else if (sandbox.mode === "bwrap" && poolSize > 0) {
    process.stderr.write("taskweaver: sandboxed local kernels are started one by one: the warm pool is not used.\n");
  }

  let forkLauncher: ForkKernelLauncher | undefined;
  let warmPool: WarmPool | undefined;
  let baseLauncher: KernelLauncher = spawnLauncher;
  // Unsandboxed, as before the sandbox existed; set up at once when that is known without a probe.
  const setUpUnsandboxed = () => {
    // "auto": fork where the platform can, once the template is up (`pnpm bench kernel` measures
    // both; starting the template costs about three spawns, so kernels wanted before it is ready
    // are spawned). The launcher falls back to spawning, said once, when the template cannot start.
    forkLauncher =
      kernelStart === "fork" || (kernelStart === "auto" && forkSupported())
        ? createForkKernelLauncher({
            resolvePython,
            startTimeoutMs,
            preloadModules: config.get("execution_service.preload_modules"),
            fallback: spawnLauncher,
            whileStarting: kernelStart === "auto" ? "spawn" : "wait",
            // The same options the executors install: forked kernels install the support code
            // themselves and the executor's bootstrap execute is skipped.
            supportOptions: { parent_pid: process.pid, max_output_chars: maxOutputChars },
          })
        : undefined;
    baseLauncher = forkLauncher ?? spawnLauncher;
    warmPool =
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
  };
  let disposed = false;
  if (sandbox.mode === "none" || explicitlyUnsandboxed) setUpUnsandboxed();
  else
    void sandboxed.then((inSandbox) => {
      if (!inSandbox && !disposed) setUpUnsandboxed();
    });
  const factory: ExecutorFactory = async (request) => {
    const inSandbox = await sandboxed;
    return createLocalExecutor({
      workingDirectory: request.workingDirectory,
      python: configured,
      launcher: inSandbox ? sandboxLauncher : (warmPool ?? baseLauncher),
      sandbox: { mode: inSandbox ? "bwrap" : "none" },
      executionTimeoutMs: config.get("execution_service.execution_timeout") * 1000,
      maxOutputChars,
      maxWorkdirBytes: config.get("execution_service.max_workdir_bytes"),
    });
  };
  return Object.assign(factory, {
    dispose: async () => {
      disposed = true;
      await warmPool?.dispose();
      await forkLauncher?.dispose();
      await sandboxForkLauncher?.dispose();
    },
    get warmPool() {
      return warmPool;
    },
    startsQuickly: () =>
      (warmPool?.idleKernels.length ?? 0) > 0 || forksNow(forkLauncher) || forksNow(sandboxForkLauncher),
  });
}

/** Whether the launcher's next kernel is forked from a running template. */
function forksNow(launcher: ForkKernelLauncher | undefined): boolean {
  return launcher !== undefined && launcher.template?.alive === true && !launcher.fellBack;
}

/** The sandbox settings of `execution_service.local.*`; the sessions' folders are hidden, the app directory is not. */
export function localSandbox(config: AppConfig): LocalSandboxOptions & { mode: LocalSandboxMode } {
  const cpuTime = config.get("execution_service.local.cpu_time");
  return {
    mode: config.get("execution_service.local.sandbox"),
    network: config.get("execution_service.local.network"),
    memoryBytes: parseSize(config.get("execution_service.local.memory"), "execution_service.local.memory"),
    pidsLimit: config.get("execution_service.local.pids_limit"),
    ...(cpuTime !== undefined ? { cpuTimeSeconds: cpuTime } : {}),
    // The app directory stays readable (its data files, as the original's examples read them:
    // `../../../../sample_data/...` from a session), every session's folder does not.
    visibleDirectories: [config.appDir],
    hiddenDirectories: [join(config.get("workspace.workspace_path"), "sessions")],
    tmpfsBytes: config.get("execution_service.max_workdir_bytes"),
  };
}
