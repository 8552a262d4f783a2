import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExecutorUnavailableError, KernelDiedError } from "@taskweaver/core";
import type { KernelConnection, KernelLauncher, LaunchOptions } from "../kernel-executor.js";
import { createKernelClient } from "../internal/protocol/kernel-client.js";
import { createZmqTransport } from "../internal/protocol/zmq-transport.js";
import type { SupportInstallOptions } from "../internal/support-code.js";
import { startForkServer, type ForkServer, type ForkedExit } from "./fork-server.js";
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
}

/** A `KernelLauncher` over a template, plus the template's state for diagnostics and tests. */
export interface ForkKernelLauncher extends KernelLauncher {
  /** The running template, if one is running. */
  readonly template: ForkServer | undefined;
  /** True once forking was given up for spawning. */
  readonly fellBack: boolean;
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
  const fallback =
    options.fallback ??
    createLocalKernelLauncher({
      resolvePython: options.resolvePython,
      transport,
      startTimeoutMs,
      env: options.env,
      shutdownGraceMs,
    });
  const warn = options.onWarning ?? ((message: string) => process.stderr.write(`taskweaver: ${message}\n`));
  let template: ForkServer | undefined;
  let starting: Promise<ForkServer | undefined> | undefined;
  let restartsLeft = 1;
  let fellBack = false;
  let disposed = false;

  const giveUp = (reason: string) => {
    if (fellBack) return;
    fellBack = true;
    warn(`kernels are spawned instead of forked: ${reason}`);
  };

  async function startTemplate(): Promise<ForkServer | undefined> {
    const python = await options.resolvePython();
    try {
      const server = await startForkServer({
        python,
        preloadModules: options.preloadModules,
        startTimeoutMs,
        kernelArgv: KERNEL_ARGV,
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
    await mkdir(workingDirectory, { recursive: true });
    const runtimeDirectory = await mkdtemp(join(tmpdir(), "tw-"));
    const connection = await createConnectionInfo(runtimeDirectory, transport);
    const connectionFile = join(runtimeDirectory, "kernel.json");
    const logFile = join(runtimeDirectory, "kernel.log");
    await writeFile(connectionFile, JSON.stringify(connection), { mode: 0o600 });
    const environment: Record<string, string> = {};
    for (const [name, value] of Object.entries({
      ...process.env,
      ...options.env,
      MPLBACKEND: "Agg",
      JPY_PARENT_PID: String(process.pid),
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
        limits: options.limits,
        ...(installsSupport ? { supportOptions: { ...options.supportOptions, workdir: workingDirectory } } : {}),
      });
    } catch (error) {
      client.close();
      await rm(runtimeDirectory, { recursive: true, force: true });
      throw error;
    }
    const pid = forked.pid;
    const untrack = trackKernelProcessGroup(pid);
    const readLog = async () => (await readFile(logFile, "utf8").catch(() => "")).trim().slice(-4000);
    const group = new KernelProcessGroup(pid);
    let ready = false;
    const exit = forked.exit.then(async (status: ForkedExit) => {
      untrack();
      const reason = status.templateLost
        ? "the kernel template process ended, and its kernels with it"
        : status.signal
          ? `the kernel process was killed by ${status.signal}`
          : `the kernel process exited with code ${status.code}`;
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

    const kernel = group.connection({
      client,
      details: { python: server.python, pid: String(pid), transport, start: "fork" },
      exit,
      shutdownGraceMs,
    });
    return installsSupport ? { ...kernel, prepared: true, bound: true } : kernel;
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
    async dispose() {
      disposed = true;
      const server = template ?? (await starting);
      template = undefined;
      await server?.stop();
    },
  };
}
