import {
  createId as defaultCreateId,
  ExecutionTimeoutError,
  KernelDiedError,
  TaskWeaverError,
  type CodeExecutor,
  type ExecuteOptions,
  type ExecutionOutcome,
  type ExecutionResult,
  type ExecutorInfo,
  type ExecutorMemory,
  type FileInfo,
  type HostCall,
  type HostCallHandler,
  type IdGenerator,
  type KernelSnapshot,
  type PluginLoadSpec,
  type PluginLoadState,
  type SnapshotRestoreResult,
  type TaskWeaverErrorCode,
} from "@taskweaver/core";
import { stripAnsi } from "./internal/ansi.js";
import { ExecutionCollector } from "./internal/execution-collector.js";
import type { InputRequest, KernelClient } from "./internal/protocol/kernel-client.js";
import type { ExecuteReplyContent, JupyterMessage } from "./internal/protocol/messages.js";
import {
  createBindWorkingDirectoryCode,
  createBootstrapCode,
  createLoadPluginCode,
  createSetSessionVariablesCode,
  HOST_CALL_PREFIX,
  readSupportSource,
  type SupportInstallOptions,
} from "./internal/support-code.js";
import type { WorkingDirectoryFiles } from "./internal/working-directory.js";
import { restoreKernelSnapshot, saveKernelSnapshot } from "./snapshot.js";
import {
  createFileSizeLimitCode,
  createKernelWorkdirWatcherCode,
  createWorkdirWatcher,
  describeWorkdirLimit,
  WORKDIR_LIMIT_ERROR_NAME,
  type WorkdirWatcher,
} from "./internal/workdir-limit.js";

/**
 * A started, ready kernel (kernel_info answered) as a runtime hands it to the executor. Kernel
 * start is separate from binding a kernel to a session so a warm pool can start kernels ahead.
 */
export interface KernelConnection {
  readonly client: KernelClient;
  /** Interrupts running code: SIGINT to a local process group, `interrupt_request` otherwise. */
  interrupt(): Promise<void>;
  /**
   * Registers the listener told (once) when the kernel dies by itself: process exit, failed
   * heartbeat, closed WebSocket. Not called for deaths caused by `stop`.
   */
  onDeath(listener: (reason: string) => void): void;
  /**
   * Stops the kernel and frees its resources; idempotent. `graceful` asks with `shutdown_request`
   * first; otherwise the kernel is killed at once.
   */
  stop(options?: { graceful?: boolean }): Promise<void>;
  /** Free-form details for `ExecutorInfo` (pid, container id, kernel id). */
  readonly details: Record<string, string>;
  /** Set when the launcher started the kernel with `LaunchOptions.fileSizeLimitBytes` in force. @default false */
  readonly fileSizeLimited?: boolean;
  /** The kernel process's memory now (local kernels on Linux); see `CodeExecutor.readMemory`. */
  readMemory?(): Promise<ExecutorMemory | undefined>;
  /**
   * Set by a warm pool: the support code is already installed (in the pool's directory), so the
   * executor only binds the kernel to its working directory instead of bootstrapping it.
   * @default false
   */
  readonly prepared?: boolean;
  /**
   * Set by a warm pool when `relocate` already bound the kernel to its working directory (in the
   * same execute that moved it): the executor skips its own bind step.
   * @default false
   */
  readonly bound?: boolean;
  /**
   * Set on kernels started ahead where the runtime has to move something before a session can
   * use the kernel: a container's mounted folder becomes the session's folder on the host, a
   * remote kernel moves into the session's folder on the server. The warm pool calls it when it
   * hands the kernel out; when it throws, the kernel is stopped and a fresh one started instead.
   * Resolves with `bound: true` when the move also bound the kernel (see `bound`).
   */
  relocate?(target: LaunchOptions): Promise<{ bound: boolean } | void>;
  /**
   * Host paths of the kernel's private scratch space that count toward `maxWorkdirBytes` with the
   * working directory (a sandbox's private /tmp, seen through `/proc/<pid>/root`).
   * @default []
   */
  readonly scratchDirectories?: readonly string[];
}

/** Where a kernel is wanted. */
export interface LaunchOptions {
  /**
   * Working directory as the kernel sees it: a host path (local), a container path (Docker), a
   * path under the server's root (remote), or "" for "where the launcher put it".
   */
  workingDirectory: string;
  /** The same directory on the host, when the host can see it (local and Docker). */
  hostWorkingDirectory?: string;
  /** The session the kernel is for; names its container (Docker) for operators. */
  sessionId?: string;
  signal?: AbortSignal;
  /**
   * RLIMIT_FSIZE the kernel should start with (the working-directory limit's part in the
   * kernel). A launcher that sets it before the kernel runs says so with
   * `KernelConnection.fileSizeLimited`, and the executor does not set it with an execute.
   */
  fileSizeLimitBytes?: number;
}

/** Starts kernels for one runtime (local process, container, remote server). */
export interface KernelLauncher {
  launch(options: LaunchOptions): Promise<KernelConnection>;
}

/** Options of `createKernelExecutor`. */
export interface KernelExecutorOptions {
  launcher: KernelLauncher;
  /** Working directory as the kernel sees it (inside the container for Docker). */
  kernelWorkingDirectory: string;
  /** Working directory on the host, when the host can see it; reported as `CodeExecutor.workingDirectory`. */
  hostWorkingDirectory: string | undefined;
  /** File access to the working directory (upload, download, list; also used to save displayed images). */
  files: WorkingDirectoryFiles;
  info: ExecutorInfo;
  /** @default 300000 (five minutes) */
  executionTimeoutMs?: number;
  /** Characters of stdout+stderr kept per execution. @default 100000 */
  maxOutputChars?: number;
  /** How long an interrupted execution may take to stop before the kernel is restarted. @default 5000 */
  interruptGraceMs?: number;
  /** Extra options for the Python support code (e.g. the parent pid watchdog of local kernels). */
  supportOptions?: Omit<SupportInstallOptions, "workdir">;
  /** @default core's createId */
  createId?: IdGenerator;
  /**
   * Bytes the working directory may hold (`execution_service.max_workdir_bytes`): an execution
   * that grows it past this is stopped. Watched from the host when it sees the directory, else by
   * the kernel itself. Every kernel also gets it as RLIMIT_FSIZE. @default no limit
   */
  maxWorkdirBytes?: number;
}

type Race =
  | { kind: "reply"; reply: JupyterMessage<ExecuteReplyContent> }
  | { kind: "timeout" }
  | { kind: "aborted" }
  | { kind: "died"; error: unknown };

function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  return Number.isInteger(seconds) ? `${seconds} s` : `${seconds.toFixed(1)} s`;
}

/**
 * The runtime-independent half of every executor: runs code on a kernel from a `KernelLauncher`,
 * collects its output into an `ExecutionResult`, enforces timeouts (interrupt, then restart),
 * handles aborts and kernel deaths, and replays plugins and session variables on new kernels.
 */
class KernelExecutor implements CodeExecutor {
  /** Details of the kernel in use (or the last one), read live: a runtime may update them. */
  private kernelDetails: Readonly<Record<string, string>> = {};
  readonly workingDirectory: string | undefined;
  private kernel: KernelConnection | undefined;
  private starting: Promise<KernelConnection> | undefined;
  /** Why the previous kernel went away by itself; reported on the next execution. */
  private lostReason: string | undefined;
  private stopped = false;
  /** Set by `interrupt()`; tells the running execution its KeyboardInterrupt was asked for. */
  private interruptRequested = false;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly plugins = new Map<string, PluginLoadSpec>();
  /** How each plugin loaded into the current kernel, by name. */
  private readonly pluginStateByName = new Map<string, PluginLoadState>();
  private readonly sessionVariables: Record<string, string> = {};
  private hostCallHandler: HostCallHandler | undefined;
  private readonly executionTimeoutMs: number;
  private readonly maxOutputChars: number;
  private readonly interruptGraceMs: number;
  private readonly createId: IdGenerator;

  constructor(private readonly options: KernelExecutorOptions) {
    this.workingDirectory = options.hostWorkingDirectory;
    this.executionTimeoutMs = options.executionTimeoutMs ?? 300_000;
    this.maxOutputChars = options.maxOutputChars ?? 100_000;
    this.interruptGraceMs = options.interruptGraceMs ?? 5_000;
    this.createId = options.createId ?? defaultCreateId;
  }

  get info(): ExecutorInfo {
    return { kind: this.options.info.kind, details: { ...this.options.info.details, ...this.kernelDetails } };
  }

  /** Runs operations that use the kernel one after another. */
  private serialize<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.queue.then(operation, operation);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private assertOpen(): void {
    if (this.stopped)
      throw new TaskWeaverError("executor_stopped", "This executor was stopped; create a new one.");
  }

  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.assertOpen();
    await this.ensureKernel(options.signal);
  }

  private ensureKernel(signal?: AbortSignal): Promise<KernelConnection> {
    if (this.kernel) return Promise.resolve(this.kernel);
    if (!this.starting) {
      this.starting = this.startKernel(signal).finally(() => {
        this.starting = undefined;
      });
    }
    return this.starting;
  }

  private async startKernel(signal?: AbortSignal): Promise<KernelConnection> {
    const [source, kernel] = await Promise.all([
      readSupportSource(),
      this.options.launcher.launch({
        workingDirectory: this.options.kernelWorkingDirectory,
        hostWorkingDirectory: this.options.hostWorkingDirectory,
        signal,
        ...(this.options.maxWorkdirBytes !== undefined ? { fileSizeLimitBytes: this.options.maxWorkdirBytes } : {}),
      }),
    ]);
    try {
      const limitCode = this.createWorkdirLimitCode(kernel.fileSizeLimited === true);
      if (!kernel.bound) {
        await this.runInternal(
          kernel,
          [
            kernel.prepared
              ? createBindWorkingDirectoryCode(this.options.kernelWorkingDirectory)
              : createBootstrapCode(source, {
                  ...this.options.supportOptions,
                  workdir: this.options.kernelWorkingDirectory,
                  max_output_chars: this.maxOutputChars,
                }),
            ...(limitCode ? [limitCode] : []),
          ].join("\n"),
          "kernel_setup_failed",
          "Setting up the kernel failed",
        );
      } else if (limitCode) {
        await this.runInternal(kernel, limitCode, "kernel_setup_failed", "Setting up the kernel failed");
      }
      if (Object.keys(this.sessionVariables).length > 0) {
        await this.runInternal(
          kernel,
          createSetSessionVariablesCode(this.sessionVariables),
          "kernel_setup_failed",
          "Setting session variables failed",
        );
      }
      // A plugin that fails here is reported through its state; the kernel still starts.
      for (const plugin of this.plugins.values()) await this.loadPluginInto(kernel, plugin);
    } catch (error) {
      await kernel.stop();
      throw error;
    }
    if (this.stopped) {
      await kernel.stop();
      this.assertOpen();
    }
    kernel.onDeath((reason) => {
      kernel.client.fail(new KernelDiedError(`The Python kernel died: ${reason}.`));
      if (this.kernel === kernel) {
        this.kernel = undefined;
        this.lostReason = reason;
      }
    });
    this.kernel = kernel;
    // `/info` shows what is running now (pid, Python, container id).
    this.kernelDetails = kernel.details;
    return kernel;
  }

  /** The kernel's part of the working-directory limit: RLIMIT_FSIZE, and the watcher where the host cannot see. */
  private createWorkdirLimitCode(fileSizeLimited: boolean): string | undefined {
    const limit = this.options.maxWorkdirBytes;
    if (limit === undefined) return undefined;
    // A kernel started with RLIMIT_FSIZE in force (a forked one) needs no execute for it.
    const code = fileSizeLimited ? [] : [createFileSizeLimitCode(limit)];
    if (this.options.hostWorkingDirectory === undefined)
      code.push(createKernelWorkdirWatcherCode(this.options.kernelWorkingDirectory, limit));
    return code.length > 0 ? code.join("\n") : undefined;
  }

  /** Bytes the working directory held after the last execution (the next one's baseline). */
  private workdirBytes: number | undefined;

  /** Samples the working directory from the host while code runs; calls `stop` when over the limit. */
  private watchWorkdir(kernel: KernelConnection, stop: () => void): WorkdirWatcher | undefined {
    const limit = this.options.maxWorkdirBytes;
    const host = this.options.hostWorkingDirectory;
    if (limit === undefined || host === undefined) return undefined;
    return createWorkdirWatcher({
      directories: [host, ...(kernel.scratchDirectories ?? [])],
      limitBytes: limit,
      baselineBytes: this.workdirBytes,
      onExceeded: stop,
    });
  }

  /**
   * Runs support code silently; a Python exception becomes a TaskWeaverError with its traceback.
   * Bounded by the execution timeout, like user code (a plugin may loop at import).
   */
  private async runInternal(
    kernel: KernelConnection,
    code: string,
    errorCode: TaskWeaverErrorCode,
    what: string,
  ): Promise<void> {
    const reply = await this.runSupport(kernel, code, what);
    if (reply.status !== "ok") {
      const traceback = stripAnsi((reply.traceback ?? []).join("\n"));
      throw new TaskWeaverError(
        errorCode,
        `${what}: ${reply.ename ?? "Error"}: ${reply.evalue ?? ""}${traceback ? `\n${traceback}` : ""}`,
      );
    }
  }

  /** Runs support code silently and returns the kernel's reply; timeouts and deaths throw. */
  private async runSupport(kernel: KernelConnection, code: string, what: string): Promise<ExecuteReplyContent> {
    const handle = kernel.client.execute(code, { silent: true });
    handle.done.catch(() => undefined);
    const first = await this.race(handle.done, this.executionTimeoutMs, undefined);
    if (first.kind === "died") throw first.error;
    if (first.kind !== "reply") {
      await kernel.interrupt().catch(() => undefined);
      const second = await this.race(handle.done, this.interruptGraceMs, undefined);
      if (second.kind !== "reply") {
        // While starting, the caller stops this kernel; a bound kernel is replaced right away.
        if (this.kernel === kernel) await this.replaceKernel(kernel);
        else await kernel.stop({ graceful: false });
      }
      throw new ExecutionTimeoutError(
        `${what}: it did not finish within ${formatSeconds(this.executionTimeoutMs)} and was interrupted${second.kind === "reply" ? "" : "; the kernel was restarted"}.`,
      );
    }
    return first.reply.content;
  }

  /**
   * Loads one plugin into a kernel and records whether it is usable. A plugin whose own code
   * fails (missing module, syntax error, exception at import, nothing registered) is left as a
   * stand-in that raises an explanatory error when called; only kernel trouble throws.
   */
  private async loadPluginInto(kernel: KernelConnection, plugin: PluginLoadSpec): Promise<PluginLoadState> {
    let state: PluginLoadState;
    try {
      const reply = await this.runSupport(kernel, createLoadPluginCode(plugin), `Loading plugin ${plugin.name}`);
      if (reply.status === "ok") state = { name: plugin.name, loaded: true };
      else if (reply.ename === "PluginLoadFailure") state = { name: plugin.name, loaded: false, error: reply.evalue ?? "" };
      else state = { name: plugin.name, loaded: false, error: `${reply.ename ?? "Error"}: ${reply.evalue ?? ""}` };
    } catch (error) {
      if (!ExecutionTimeoutError.isInstance(error)) throw error;
      state = { name: plugin.name, loaded: false, error: error.message };
    }
    this.pluginStateByName.set(plugin.name, state);
    return state;
  }

  execute(code: string, options: ExecuteOptions = {}): Promise<ExecutionResult> {
    return this.serialize(async () => {
      // Host calls still waiting when the execution ends (or times out) are abandoned.
      const hostCalls = new AbortController();
      try {
        return await this.runExecution(code, options, hostCalls);
      } finally {
        hostCalls.abort();
      }
    });
  }

  setHostCallHandler(handler: HostCallHandler | undefined): void {
    this.hostCallHandler = handler;
  }

  /** Answers one `input_request`: a marked one is a host call, anything else gets an empty value. */
  private async answerInput(request: InputRequest, executionId: string, signal: AbortSignal): Promise<string> {
    const handler = this.hostCallHandler;
    if (!request.prompt.startsWith(HOST_CALL_PREFIX)) return "";
    const fail = (message: string) => JSON.stringify({ error: { type: "HostCallError", message } });
    if (handler === undefined) return fail("this session answers no host calls");
    let call: HostCall;
    try {
      const parsed: unknown = JSON.parse(request.prompt.slice(HOST_CALL_PREFIX.length));
      if (typeof parsed !== "object" || parsed === null || typeof (parsed as { kind?: unknown }).kind !== "string") {
        return fail("a host call must be a JSON object with a kind");
      }
      call = parsed as HostCall;
    } catch {
      return fail("a host call must be JSON");
    }
    try {
      return JSON.stringify((await handler(call, { signal, executionId })) ?? null);
    } catch (error) {
      return fail(error instanceof Error ? error.message : String(error));
    }
  }

  private async runExecution(code: string, options: ExecuteOptions, hostCalls: AbortController): Promise<ExecutionResult> {
    this.assertOpen();
    const executionId = options.executionId ?? this.createId("exec");
    const collector = new ExecutionCollector({
      executionId,
      maxOutputChars: this.maxOutputChars,
      onOutput: options.onOutput,
      saveFile: (name, data) => this.options.files.upload(name, data),
    });
    let stateLost = false;
    const finish = async (outcome: ExecutionOutcome, durationMs: number): Promise<ExecutionResult> => {
      await collector.finish();
      return {
        executionId,
        code,
        isSuccess: outcome === "ok",
        outcome,
        output: collector.output,
        stdout: collector.stdout,
        stderr: collector.stderr,
        log: collector.log,
        error: collector.error,
        artifacts: collector.artifacts,
        displays: collector.displays,
        stateLost,
        notes: collector.notes,
        durationMs,
      };
    };

    if (options.signal?.aborted) {
      collector.notes.push("The execution was cancelled before it started; the code did not run.");
      return finish("interrupted", 0);
    }
    if (this.kernel === undefined && this.lostReason !== undefined) {
      stateLost = true;
      collector.notes.push(
        `The previous kernel died (${this.lostReason}); a fresh kernel was started, so variables, imports and loaded data from earlier executions are gone.`,
      );
      this.lostReason = undefined;
    }
    let kernel: KernelConnection;
    try {
      kernel = await this.ensureKernel(options.signal);
    } catch (error) {
      if (!options.signal?.aborted) throw error;
      collector.notes.push(
        "The execution was cancelled while the kernel was starting; the code did not run.",
      );
      return finish("interrupted", 0);
    }
    this.interruptRequested = false;

    const started = performance.now();
    // The limit stops code as an abort does; `overLimit` tells the two apart.
    const limitController = new AbortController();
    const watcher = this.watchWorkdir(kernel, () => limitController.abort());
    const overLimit = () => watcher?.exceeded === true;
    const finishWatched = async (outcome: ExecutionOutcome, durationMs: number): Promise<ExecutionResult> => {
      if (watcher) {
        this.workdirBytes = await watcher.stop();
        if (watcher.exceeded) {
          const limit = this.options.maxWorkdirBytes ?? 0;
          const message = describeWorkdirLimit(limit, this.workdirBytes);
          collector.notes.push(message);
          const traceback = collector.error?.traceback ?? "";
          collector.error = { name: WORKDIR_LIMIT_ERROR_NAME, value: message, traceback };
          if (outcome === "ok") outcome = "error";
        }
      } else if (collector.error?.name === WORKDIR_LIMIT_ERROR_NAME) {
        collector.notes.push(collector.error.value);
      }
      return finish(outcome, durationMs);
    };
    const handle = kernel.client.execute(code, {
      metadata: { taskweaver_execution_id: executionId },
      onOutput: collector.handle,
      onInputRequest: (request) => this.answerInput(request, executionId, hostCalls.signal),
    });
    // Settled later or never awaited (after a restart): never an unhandled rejection.
    handle.done.catch(() => undefined);
    const timeoutMs = options.timeoutMs ?? this.executionTimeoutMs;
    const signal = options.signal ? AbortSignal.any([options.signal, limitController.signal]) : limitController.signal;
    const first = await this.race(handle.done, timeoutMs, signal);

    if (first.kind === "reply") {
      const status = first.reply.content.status;
      // interrupt() called by the host (e.g. the user pressed Ctrl-C) while this code ran.
      if (status !== "ok" && this.interruptRequested && collector.error?.name === "KeyboardInterrupt") {
        collector.notes.push(
          "The execution was interrupted; output printed before is kept and variables are preserved.",
        );
        return finishWatched("interrupted", performance.now() - started);
      }
      return finishWatched(status === "ok" ? "ok" : "error", performance.now() - started);
    }
    if (first.kind === "died") {
      stateLost = true;
      this.lostReason = undefined; // reported here, not again on the next execution
      const reason = first.error instanceof Error ? first.error.message : String(first.error);
      collector.notes.push(
        `${reason.replace(/\.$/, "")}. The code did not finish and all variables are lost; the next execution starts a fresh kernel.`,
      );
      return finishWatched("kernel-died", performance.now() - started);
    }

    // Timeout or abort: interrupt, give the kernel a grace period, restart it if it does not stop.
    hostCalls.abort();
    const limited = first.kind === "aborted" && overLimit() && options.signal?.aborted !== true;
    const outcome: ExecutionOutcome = limited ? "error" : first.kind === "timeout" ? "timeout" : "interrupted";
    await kernel.interrupt().catch(() => undefined);
    const second = await this.race(handle.done, this.interruptGraceMs, undefined);
    if (limited) {
      // The note naming the limit comes from finishWatched; this one says what became of the kernel.
      if (second.kind === "reply") {
        collector.notes.push("Output printed before is kept and variables are preserved.");
        return finishWatched(outcome, performance.now() - started);
      }
      stateLost = true;
      collector.notes.push(
        `The kernel did not stop within ${formatSeconds(this.interruptGraceMs)} of the interrupt and was restarted, so all variables are lost.`,
      );
      await this.replaceKernel(kernel);
      return finishWatched(outcome, performance.now() - started);
    }
    const why =
      first.kind === "timeout"
        ? `The execution exceeded the time limit of ${formatSeconds(timeoutMs)}`
        : "The execution was cancelled";
    if (second.kind === "reply") {
      collector.notes.push(
        `${why} and was interrupted; output printed before is kept and variables are preserved.`,
      );
      return finishWatched(outcome, performance.now() - started);
    }
    stateLost = true;
    collector.notes.push(
      `${why}; the kernel did not stop within ${formatSeconds(this.interruptGraceMs)} of the interrupt and was restarted, so all variables are lost (files in the working directory are kept).`,
    );
    await this.replaceKernel(kernel);
    return finishWatched(outcome, performance.now() - started);
  }

  private race(
    done: Promise<JupyterMessage<ExecuteReplyContent>>,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Race> {
    return new Promise<Race>((resolve) => {
      const timer = setTimeout(() => settle({ kind: "timeout" }), timeoutMs);
      const onAbort = () => settle({ kind: "aborted" });
      signal?.addEventListener("abort", onAbort, { once: true });
      const settle = (value: Race) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        resolve(value);
      };
      done.then(
        (reply) => settle({ kind: "reply", reply }),
        (error: unknown) => settle({ kind: "died", error }),
      );
    });
  }

  /** Replaces a kernel that would not stop; the new one gets the support code, plugins and variables. */
  private async replaceKernel(kernel: KernelConnection): Promise<void> {
    if (this.kernel === kernel) this.kernel = undefined;
    await kernel.stop({ graceful: false });
    if (!this.stopped) await this.ensureKernel();
  }

  loadPlugin(plugin: PluginLoadSpec): Promise<PluginLoadState> {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(plugin.name)) {
      return Promise.reject(
        new TaskWeaverError(
          "plugin_load_failed",
          `Plugin name ${JSON.stringify(plugin.name)} is not a Python identifier.`,
        ),
      );
    }
    return this.serialize(async () => {
      this.assertOpen();
      const kernel = await this.ensureKernel();
      // Kept even when it fails: a later kernel (restart) tries it again.
      this.plugins.set(plugin.name, plugin);
      return this.loadPluginInto(kernel, plugin);
    });
  }

  get pluginStates(): PluginLoadState[] {
    return [...this.pluginStateByName.values()];
  }

  setSessionVariables(variables: Record<string, string>): Promise<void> {
    return this.serialize(async () => {
      this.assertOpen();
      Object.assign(this.sessionVariables, variables);
      // Without a kernel the variables are applied when one starts.
      if (this.kernel) {
        await this.runInternal(
          this.kernel,
          createSetSessionVariablesCode(variables),
          "kernel_setup_failed",
          "Setting session variables failed",
        );
      }
    });
  }

  uploadFile(name: string, data: Uint8Array): Promise<FileInfo> {
    return this.options.files.upload(name, data);
  }

  downloadFile(name: string): Promise<Uint8Array> {
    return this.options.files.download(name);
  }

  listFiles(): Promise<FileInfo[]> {
    return this.options.files.list();
  }

  saveSnapshot(options: { maxBytes: number }): Promise<KernelSnapshot | undefined> {
    return this.serialize(async () => {
      this.assertOpen();
      const kernel = this.kernel;
      if (!kernel) return undefined;
      return saveKernelSnapshot(
        (code, what) => this.runInternal(kernel, code, "snapshot_failed", what),
        this.options.files,
        options.maxBytes,
      );
    });
  }

  restoreSnapshot(payload: Uint8Array): Promise<SnapshotRestoreResult> {
    return this.serialize(async () => {
      this.assertOpen();
      const kernel = await this.ensureKernel();
      return restoreKernelSnapshot(
        (code, what) => this.runInternal(kernel, code, "snapshot_failed", what),
        this.options.files,
        payload,
      );
    });
  }

  async readMemory(): Promise<ExecutorMemory | undefined> {
    return (await this.kernel?.readMemory?.()) ?? undefined;
  }

  async interrupt(): Promise<void> {
    this.interruptRequested = true;
    await this.kernel?.interrupt();
  }

  async restart(): Promise<void> {
    this.assertOpen();
    const kernel = this.kernel ?? (await this.starting?.catch(() => undefined));
    this.kernel = undefined;
    this.lostReason = undefined;
    await kernel?.stop({ graceful: false });
    await this.ensureKernel();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const kernel = this.kernel ?? (await this.starting?.catch(() => undefined));
    this.kernel = undefined;
    await kernel?.stop({ graceful: true });
  }
}

/** Builds a `CodeExecutor` over any runtime's `KernelLauncher` (local, Docker, remote). */
export function createKernelExecutor(options: KernelExecutorOptions): CodeExecutor {
  return new KernelExecutor(options);
}
