import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ExecutorUnavailableError, KernelDiedError } from "@taskweaver/core";
import type { KernelConnection, KernelLauncher, LaunchOptions } from "../kernel-executor.js";
import { createKernelClient } from "../internal/protocol/kernel-client.js";
import { createZmqTransport } from "../internal/protocol/zmq-transport.js";
import type { SupportInstallOptions } from "../internal/support-code.js";
import { FORK_SERVER_PATH, startForkServer, type ForkServer, type ForkServerOptions, type ForkedExit } from "./fork-server.js";
import { keepSandboxPidsLimit } from "./process-limit.js";
import {
  createForkedSandboxMounts,
  createTemplateBubblewrapArguments,
  findWorkingRoot,
  probeBubblewrap,
  resolveCommand,
  sandboxLimits,
  sandboxScratchDirectories,
  type LocalSandboxOptions,
} from "./sandbox.js";
import { createConnectionInfo, createLocalKernelLauncher } from "./local-kernel.js";
import { KernelProcessGroup } from "./kernel-process-group.js";
import { trackKernelProcessGroup } from "./process-registry.js";

/** The values of `execution_service.kernel_start`. */
export type KernelStart = "auto" | "fork" | "spawn";

/** Options of `createForkKernelLauncher`. */
export interface ForkKernelLauncherOptions {
  /** Resolves the Python executable (discovery is memoised by the caller). */
  resolvePython: () => Promise<string>;
  /** @default "ipc" */
  transport?: "ipc" | "tcp";
  /** How long a forked kernel may take to answer its first kernel_info_request. @default 60000 */
  startTimeoutMs?: number;
  /** Extra environment variables for the kernels (on top of the host's). */
  env?: Record<string, string | undefined>;
  /** @default 1000 */
  shutdownGraceMs?: number;
  /** Modules the template imports (`execution_service.preload_modules`). @default DEFAULT_PRELOAD_MODULES */
  preloadModules?: readonly string[];
  /** `resource` limits each forked kernel sets on itself, e.g. `{ RLIMIT_NOFILE: [1024, 1024] }`. @default none */
  limits?: Record<string, readonly [number, number]>;
  /**
   * The support code's options, the same the executors would install (`parent_pid`,
   * `max_output_chars`, ...). When set, each forked kernel installs the support code itself,
   * in its working directory, before its first request, and is handed out `prepared` and
   * `bound`: the executor's bootstrap execute is skipped. A warm pool over this launcher must
   * then not bootstrap its kernels again. @default none (the executor bootstraps, as for a spawned kernel)
   */
  supportOptions?: Omit<SupportInstallOptions, "workdir">;
  /**
   * Told once when forking is given up and kernels are spawned instead (the template cannot
   * start, or died twice). @default a line on stderr
   */
  onWarning?: (message: string) => void;
  /** Starts kernels when forking is not possible. @default a spawning local launcher with the same options */
  fallback?: KernelLauncher;
  /**
   * What a launch does while the template is still importing: `"wait"` for it, or `"spawn"` a
   * kernel (the template keeps starting, in the background, for later launches). A template
   * costs about three spawns to start, so `"spawn"` keeps a one-session app as fast as before
   * (`execution_service.kernel_start` "auto"). @default "wait"
   */
  whileStarting?: "wait" | "spawn";
  /**
   * Sandboxes the template and every kernel forked from it, as a spawned sandboxed kernel is
   * (see the executor README, "Forked kernels in the sandbox"). The working directories must lie
   * under one of `workingRoots` (real paths; a kernel for another directory is spawned in its own
   * bubblewrap instead). The fallback is then a sandboxed spawning launcher.
   * @default not sandboxed
   */
  sandbox?: LocalSandboxOptions & {
    /** Directories under which sessions' working directories are forked (e.g. the sessions folder). @default `hiddenDirectories` */
    workingRoots?: readonly string[];
  };
}

/** A `KernelLauncher` over a template, plus the template's state for diagnostics and tests. */
export interface ForkKernelLauncher extends KernelLauncher {
  /** The running template, if one is running. */
  readonly template: ForkServer | undefined;
  /** True once forking was given up for spawning. */
  readonly fellBack: boolean;
  /** Sandboxed kernels forked into a sandbox the template had made ahead (one fork on their path, not three). */
  readonly sandboxesMadeAhead: number;
  /** Stops the template (kernels forked from it die with it). */
  dispose(): Promise<void>;
}

/** Whether this platform can fork kernels: Linux (os.fork, /proc, PR_SET_PDEATHSIG). */
export function forkSupported(platform: NodeJS.Platform = process.platform): boolean {
  return platform === "linux";
}

const START_TIMEOUT_SETTING = "execution_service.local.start_timeout";
/** As for a spawned kernel: no history database (and no thread writing to it). */
const KERNEL_ARGV = ["--HistoryManager.enabled=False"];

/**
 * Starts kernels by forking a template process that has ipykernel and the preload modules
 * imported (see `taskweaver_fork_server.py`). A forked kernel is a process-group leader with its
 * own connection file, working directory and environment; to the executor it looks like a
 * spawned one (`details.start` says "fork"). The template is started on the first launch,
 * restarted once if it dies; after that, or when it cannot start, kernels are spawned.
 */
export function createForkKernelLauncher(options: ForkKernelLauncherOptions): ForkKernelLauncher {
  const transport = options.transport ?? "ipc";
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const shutdownGraceMs = options.shutdownGraceMs ?? 1_000;
  const sandbox = options.sandbox;
  const fallback =
    options.fallback ??
    createLocalKernelLauncher({
      resolvePython: options.resolvePython,
      transport,
      startTimeoutMs,
      env: options.env,
      shutdownGraceMs,
      ...(sandbox ? { sandbox: { ...sandbox, mode: "bwrap" as const } } : {}),
    });
  // Real paths, resolved with the template (a root created later is found then).
  let workingRoots: string[] = [];
  let runtimeRoot: string | undefined;
  const warn = options.onWarning ?? ((message: string) => process.stderr.write(`taskweaver: ${message}\n`));
  let template: ForkServer | undefined;
  let starting: Promise<ForkServer | undefined> | undefined;
  let restartsLeft = 1;
  let sandboxesMadeAhead = 0;
  let fellBack = false;
  let disposed = false;

  const giveUp = (reason: string) => {
    if (fellBack) return;
    fellBack = true;
    warn(`kernels are spawned instead of forked: ${reason}`);
  };

  async function sandboxOfTemplate(python: string): Promise<ForkServerOptions["sandbox"]> {
    if (!sandbox) return undefined;
    const problem = await probeBubblewrap(sandbox.bwrap);
    if (problem !== undefined) throw new ExecutorUnavailableError(`bubblewrap does not work here: ${problem}`);
    // Made when missing (an app's sessions folder appears with its first session): a root the
    // template does not have from its start is out of its reach for good.
    const roots = await Promise.all(
      (sandbox.workingRoots ?? sandbox.hiddenDirectories ?? []).map(async (root) => {
        await mkdir(root, { recursive: true }).catch(() => undefined);
        return realpath(root).catch(() => undefined);
      }),
    );
    workingRoots = [...new Set(roots.filter((root): root is string => root !== undefined && root !== "/"))];
    const directory = await mkdtemp(join(tmpdir(), "tw-fsb-"));
    runtimeRoot = directory;
    return {
      bwrap: sandbox.bwrap ?? "bwrap",
      args: await createTemplateBubblewrapArguments({
        runtimeDirectory: directory,
        workingRoots,
        python,
        options: sandbox,
        codeDirectory: dirname(FORK_SERVER_PATH),
      }),
      directory,
    };
  }

  async function startTemplate(): Promise<ForkServer | undefined> {
    const configured = await options.resolvePython();
    // The sandbox's PATH may lead into a hidden directory: the path found here is bound back.
    const python = sandbox ? await resolveCommand(configured) : configured;
    try {
      const server = await startForkServer({
        python,
        preloadModules: options.preloadModules,
        startTimeoutMs,
        kernelArgv: KERNEL_ARGV,
        sandbox: await sandboxOfTemplate(python),
      });
      void server.exited.then((reason) => {
        if (template === server) template = undefined;
        if (disposed) return;
        if (restartsLeft > 0) restartsLeft -= 1;
        else giveUp(`the kernel template died twice (last: ${reason})`);
      });
      return server;
    } catch (error) {
      giveUp(error instanceof Error ? error.message : String(error));
      return undefined;
    }
  }

  function currentTemplate(): Promise<ForkServer | undefined> {
    if (!forkSupported()) giveUp(`forking kernels needs Linux, this is ${process.platform}`);
    if (fellBack || disposed) return Promise.resolve(undefined);
    if (template?.alive) return Promise.resolve(template);
    starting ??= startTemplate().then((server) => {
      starting = undefined;
      if (disposed) {
        void server?.stop();
        return undefined;
      }
      template = server;
      return server;
    });
    return starting;
  }

  async function launchForked(server: ForkServer, launchOptions: LaunchOptions): Promise<KernelConnection> {
    const { workingDirectory, signal } = launchOptions;
    const fileSizeLimit = launchOptions.fileSizeLimitBytes === undefined ? undefined : Math.floor(launchOptions.fileSizeLimitBytes);
    await mkdir(workingDirectory, { recursive: true });
    const workingRoot = sandbox ? await findWorkingRoot(workingDirectory, workingRoots) : undefined;
    // Only the working roots are in the template's reach: another directory gets a bubblewrap of its own.
    if (sandbox && workingRoot === undefined) return fallback.launch(launchOptions);
    const runtimeDirectory = await mkdtemp(join(runtimeRoot !== undefined && sandbox ? runtimeRoot : tmpdir(), sandbox ? "k" : "tw-"));
    const connection = await createConnectionInfo(runtimeDirectory, transport);
    const connectionFile = join(runtimeDirectory, "kernel.json");
    const logFile = join(runtimeDirectory, "kernel.log");
    await writeFile(connectionFile, JSON.stringify(connection), { mode: 0o600 });
    const environment: Record<string, string> = {};
    for (const [name, value] of Object.entries({
      ...process.env,
      ...options.env,
      MPLBACKEND: "Agg",
      // A sandboxed kernel cannot see the host's pid; its keeper's PR_SET_PDEATHSIG does that job.
      JPY_PARENT_PID: sandbox ? undefined : String(process.pid),
      PYDEVD_DISABLE_FILE_VALIDATION: "1",
      PYTHONDONTWRITEBYTECODE: "1",
    }))
      if (value !== undefined) environment[name] = value;

    // Connected before the fork: ZeroMQ retries every few milliseconds until the child binds,
    // so the first kernel_info_request is waiting when the kernel starts reading.
    const transportHandle = createZmqTransport(connection);
    const client = createKernelClient(transportHandle);
    const answered = client.waitForReady({ signal, timeoutMs: startTimeoutMs, timeoutSetting: START_TIMEOUT_SETTING });
    // Awaited below; a failed fork closes the client, which rejects it meanwhile.
    answered.catch(() => undefined);
    const installsSupport = options.supportOptions !== undefined && server.installsSupport;
    let forked;
    try {
      forked = await server.fork({
        connectionFile,
        cwd: workingDirectory,
        env: environment,
        logFile,
        limits: {
          ...(sandbox ? sandboxLimits(sandbox) : {}),
          ...(fileSizeLimit !== undefined ? { RLIMIT_FSIZE: [fileSizeLimit, fileSizeLimit] as const } : {}),
          ...options.limits,
        },
        ...(installsSupport ? { supportOptions: { ...options.supportOptions, workdir: workingDirectory } } : {}),
        ...(sandbox && workingRoot !== undefined
          ? {
              sandbox: {
                ...(await createForkedSandboxMounts({
                  workingDirectory,
                  workingRootIndex: workingRoot,
                  workingRoot: workingRoots[workingRoot]!,
                  connectionDirectory: runtimeDirectory,
                  runtimeDirectory: runtimeRoot!,
                  python: server.python,
                  options: sandbox,
                })),
                unshareNet: !sandbox.network,
              },
            }
          : {}),
      });
    } catch (error) {
      client.close();
      await rm(runtimeDirectory, { recursive: true, force: true });
      throw error;
    }
    const pid = forked.pid;
    if (forked.sandboxMadeAhead) sandboxesMadeAhead += 1;
    const untrack = trackKernelProcessGroup(pid);
    const readLog = async () => (await readFile(logFile, "utf8").catch(() => "")).trim().slice(-4000);
    const group = new KernelProcessGroup(pid);
    let ready = false;
    // Why the host ended the sandbox itself goes into the death's reason (as for a spawned one).
    const pidsLimit = sandbox ? keepSandboxPidsLimit(pid, sandbox.pidsLimit, () => group.signal("SIGKILL", true)) : undefined;
    const exit = forked.exit.then(async (status: ForkedExit) => {
      untrack();
      pidsLimit?.stop();
      const reason = status.templateLost
        ? "the kernel template process ended, and its kernels with it"
        : (pidsLimit?.endedBecause ??
          (status.signal
            ? `the kernel process was killed by ${status.signal}`
            : `the kernel process exited with code ${status.code}`));
      client.fail(new KernelDiedError(`The Python kernel died: ${reason}.`));
      transportHandle.close();
      // Told at once, in the same turn as the failure: the next execution must not find it.
      group.exited(reason);
      const log = ready ? "" : await readLog();
      void rm(runtimeDirectory, { recursive: true, force: true });
      return { reason, log };
    });

    await group.waitUntilReady({
      ready: answered,
      stoppedWhileStarting: exit.then(({ reason, log }) => {
        throw new ExecutorUnavailableError(
          `The forked Python kernel (${server.python}) stopped while starting: ${reason}.${log ? `\nIts output:\n${log}` : ""}`,
        );
      }),
      exit,
      readLog,
    });
    ready = true;

    const connectionToKernel = group.connection({
      client,
      details: { python: server.python, pid: String(pid), transport, start: "fork", ...(sandbox ? { sandbox: "bwrap" } : {}) },
      exit,
      shutdownGraceMs,
    });
    // The sandbox's writable tmpfs mounts count toward the working-directory limit.
    const kernel = sandbox
      ? { ...connectionToKernel, scratchDirectories: sandboxScratchDirectories(pid, sandbox) }
      : connectionToKernel;
    const limited = { ...kernel, ...(fileSizeLimit !== undefined ? { fileSizeLimited: true } : {}) };
    return installsSupport ? { ...limited, prepared: true, bound: true } : limited;
  }

  return {
    async launch(launchOptions) {
      const next = currentTemplate();
      if (options.whileStarting === "spawn" && !template?.alive) {
        next.catch(() => undefined);
        return fallback.launch(launchOptions);
      }
      const server = await next;
      if (!server) return fallback.launch(launchOptions);
      try {
        return await launchForked(server, launchOptions);
      } catch (error) {
        // The template's child could not isolate itself (namespaces or mounts refused here):
        // sandboxed kernels are spawned from now on, said once.
        if (sandbox && server.alive && ExecutorUnavailableError.isInstance(error) && /could not fork a kernel: sandbox: /.test(error.message)) {
          giveUp(`a forked kernel could not be sandboxed (${error.message})`);
          void server.stop();
          return fallback.launch(launchOptions);
        }
        // The template went away between the check and the fork: one more try on a new one.
        if (!server.alive && !launchOptions.signal?.aborted) {
          await server.exited;
          const restarted = await currentTemplate();
          if (restarted) return launchForked(restarted, launchOptions);
          return fallback.launch(launchOptions);
        }
        throw error;
      }
    },
    get template() {
      return template;
    },
    get fellBack() {
      return fellBack;
    },
    get sandboxesMadeAhead() {
      return sandboxesMadeAhead;
    },
    async dispose() {
      disposed = true;
      const server = template ?? (await starting);
      template = undefined;
      await server?.stop();
    },
  };
}
