import { AbortedError, TaskWeaverError } from "@taskweaver/core";
import type { KernelConnection, KernelLauncher, LaunchOptions } from "./kernel-executor.js";
import { createBootstrapCode, readSupportSource, type SupportInstallOptions } from "./internal/support-code.js";
import { stripAnsi } from "./internal/ansi.js";

/** Options of `createWarmPool`. */
export interface WarmPoolOptions {
  /** Starts the kernels (any runtime's launcher). */
  launcher: KernelLauncher;
  /** Kernels kept started ahead. 0 turns the pool off: every launch goes to `launcher`. */
  size: number;
  /**
   * How long a started kernel may wait in the pool unused before it is stopped. The pool is
   * refilled on the next demand (a launch or `fill()`), never by a timer.
   * @default 600000 (ten minutes)
   */
  idleTimeoutMs?: number;
  /**
   * Neutral directory (as the kernel sees it) pooled kernels run in until a session takes one;
   * the executor then moves the kernel into the session's directory.
   */
  poolDirectory: string;
  /**
   * Support code options for pooled kernels (e.g. the local parent pid watchdog); they must match
   * what the executors would install, since a taken kernel is not bootstrapped again.
   */
  supportOptions?: Omit<SupportInstallOptions, "workdir">;
  /** How long installing the support code in a pooled kernel may take. @default 60000 */
  setupTimeoutMs?: number;
  /**
   * Delay before the replacement for a taken kernel starts. Starting a Python process costs about
   * a CPU-second; started at once it competes with the session binding the kernel it just took
   * and running its first code. A launch that finds the pool empty refills it at once.
   * @default 250
   */
  refillDelayMs?: number;
}

/**
 * A `KernelLauncher` that hands out kernels started (support code installed) ahead of time, and
 * starts a replacement in the background after each take. Launches with an empty pool wait for
 * a pooled kernel already starting, else start one the usual way.
 */
export interface WarmPool extends KernelLauncher {
  /** Starts kernels in the background until `size` are ready or starting. */
  fill(): void;
  /** Resolves when no pooled kernel is starting or waiting to be started (all started, or failed). */
  settled(): Promise<void>;
  /** The kernels waiting in the pool (their `details` carry the pid for local kernels). */
  readonly idleKernels: readonly KernelConnection[];
  /** Pooled kernels being started now. */
  readonly startingCount: number;
  /** Why the last pooled start failed, if it did (the pool tries again on the next demand). */
  readonly lastError: unknown;
  /** Stops every pooled kernel (waiting or starting); later launches bypass the pool. Idempotent. */
  dispose(): Promise<void>;
}

interface PooledKernel {
  kernel: KernelConnection;
  idleTimer: NodeJS.Timeout;
}

/** Creates a warm pool over a runtime's launcher. Nothing starts until `fill()` or a launch. */
export function createWarmPool(options: WarmPoolOptions): WarmPool {
  const idleTimeoutMs = options.idleTimeoutMs ?? 600_000;
  const setupTimeoutMs = options.setupTimeoutMs ?? 60_000;
  const refillDelayMs = options.refillDelayMs ?? 250;
  let refillTimer: NodeJS.Timeout | undefined;
  const idle: PooledKernel[] = [];
  const starting = new Set<Promise<void>>();
  const waiters: ((kernel: KernelConnection | undefined) => void)[] = [];
  let disposed = false;
  let lastError: unknown;

  const stopping = new Set<Promise<void>>();
  /** Stops a kernel the pool owns; `settled()` and `dispose()` wait for it. */
  const stopQuietly = (kernel: KernelConnection): Promise<void> => {
    const stop: Promise<void> = kernel
      .stop({ graceful: false })
      .catch(() => undefined)
      .finally(() => stopping.delete(stop));
    stopping.add(stop);
    return stop;
  };

  function remove(entry: PooledKernel): boolean {
    const index = idle.indexOf(entry);
    if (index < 0) return false;
    idle.splice(index, 1);
    clearTimeout(entry.idleTimer);
    return true;
  }

  async function prepare(): Promise<KernelConnection> {
    const [source, kernel] = await Promise.all([
      readSupportSource(),
      options.launcher.launch({ workingDirectory: options.poolDirectory }),
    ]);
    // A launcher that installs the support code itself (forked kernels) did it in the pool's directory.
    if (kernel.prepared) return kernel;
    try {
      const handle = kernel.client.execute(
        createBootstrapCode(source, { ...options.supportOptions, workdir: options.poolDirectory }),
        { silent: true },
      );
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new TaskWeaverError("kernel_setup_failed", `Setting up a pooled kernel took over ${setupTimeoutMs} ms.`),
            ),
          setupTimeoutMs,
        );
        timer.unref();
      });
      const reply = await Promise.race([handle.done, timeout]).finally(() => clearTimeout(timer));
      if (reply.content.status !== "ok") {
        const traceback = stripAnsi((reply.content.traceback ?? []).join("\n"));
        throw new TaskWeaverError(
          "kernel_setup_failed",
          `Setting up a pooled kernel failed: ${reply.content.ename ?? "Error"}: ${reply.content.evalue ?? ""}${traceback ? `\n${traceback}` : ""}`,
        );
      }
    } catch (error) {
      await stopQuietly(kernel);
      throw error;
    }
    return kernel;
  }

  function offer(kernel: KernelConnection): void {
    const waiter = waiters.shift();
    if (waiter) {
      waiter(kernel);
      return;
    }
    const entry: PooledKernel = {
      kernel,
      // Unused for too long: stop it; the pool refills on the next demand, not here.
      idleTimer: setTimeout(() => {
        if (remove(entry)) void stopQuietly(kernel);
      }, idleTimeoutMs),
    };
    entry.idleTimer.unref();
    kernel.onDeath(() => {
      remove(entry);
    });
    idle.push(entry);
  }

  function startOne(): void {
    // Leaves `starting` before the kernel is offered, so a take that follows counts it as done.
    const tracked: Promise<void> = prepare().then(
      async (kernel) => {
        starting.delete(tracked);
        if (disposed) await stopQuietly(kernel);
        else offer(kernel);
      },
      (error: unknown) => {
        starting.delete(tracked);
        lastError = error;
        // A launch waiting for this kernel starts its own instead.
        waiters.shift()?.(undefined);
      },
    );
    starting.add(tracked);
  }

  function fill(): void {
    if (disposed) return;
    const missing = options.size - idle.length - starting.size + waiters.length;
    for (let index = 0; index < missing; index += 1) startOne();
  }

  /**
   * Moves a pooled kernel to where the launch wants it (see `KernelConnection.relocate`) and
   * marks it as prepared, so the executor binds it instead of bootstrapping. A kernel that
   * cannot be moved is stopped; the caller then starts a fresh one.
   */
  async function handOut(kernel: KernelConnection, target: LaunchOptions): Promise<KernelConnection | undefined> {
    let bound = false;
    if (kernel.relocate) {
      try {
        bound = (await kernel.relocate(target))?.bound === true;
      } catch (error) {
        lastError = error;
        await stopQuietly(kernel);
        return undefined;
      }
    }
    return {
      client: kernel.client,
      details: kernel.details,
      ...(kernel.readMemory ? { readMemory: () => kernel.readMemory!() } : {}),
      prepared: true,
      bound,
      interrupt: () => kernel.interrupt(),
      onDeath: (listener) => kernel.onDeath(listener),
      stop: (stopOptions) => kernel.stop(stopOptions),
    };
  }

  return {
    async launch(launchOptions) {
      if (disposed || options.size <= 0) return options.launcher.launch(launchOptions);
      const entry = idle.shift();
      if (entry) {
        clearTimeout(entry.idleTimer);
        // The replacement starts in the background, a moment later (see refillDelayMs).
        if (refillTimer === undefined) {
          refillTimer = setTimeout(() => {
            refillTimer = undefined;
            fill();
          }, refillDelayMs);
          refillTimer.unref();
        }
        const kernel = await handOut(entry.kernel, launchOptions);
        if (kernel) return kernel;
        return options.launcher.launch(launchOptions);
      }
      fill();
      if (starting.size > 0) {
        // A pooled kernel already on its way is ready sooner than a new one.
        const kernel = await new Promise<KernelConnection | undefined>((resolve) => {
          const signal = launchOptions.signal;
          const waiter = (value: KernelConnection | undefined) => {
            signal?.removeEventListener("abort", onAbort);
            resolve(value);
          };
          const onAbort = () => {
            const index = waiters.indexOf(waiter);
            if (index >= 0) waiters.splice(index, 1);
            resolve(undefined);
          };
          signal?.addEventListener("abort", onAbort, { once: true });
          waiters.push(waiter);
        });
        if (kernel) {
          fill();
          const handed = await handOut(kernel, launchOptions);
          if (handed) return handed;
        }
      }
      // Cancelled while waiting: start nothing (the same error a cancelled kernel start gives).
      if (launchOptions.signal?.aborted)
        throw new AbortedError("Starting the kernel was cancelled.");
      return options.launcher.launch(launchOptions);
    },
    fill,
    async settled() {
      if (refillTimer !== undefined) await new Promise((resolve) => setTimeout(resolve, refillDelayMs));
      while (starting.size > 0 || stopping.size > 0) await Promise.all([...starting, ...stopping]);
    },
    get idleKernels() {
      return idle.map((entry) => entry.kernel);
    },
    get startingCount() {
      return starting.size;
    },
    get lastError() {
      return lastError;
    },
    async dispose() {
      disposed = true;
      clearTimeout(refillTimer);
      refillTimer = undefined;
      for (const waiter of waiters.splice(0)) waiter(undefined);
      const entries = idle.splice(0);
      for (const entry of entries) clearTimeout(entry.idleTimer);
      for (const entry of entries) void stopQuietly(entry.kernel);
      // Kernels still starting are stopped as soon as they are ready.
      while (starting.size > 0 || stopping.size > 0) await Promise.all([...starting, ...stopping]);
    },
  };
}
