import { ExecutorUnavailableError, KernelDiedError } from "@taskweaver/core";
import type { KernelConnection } from "../kernel-executor.js";
import type { KernelClient } from "../internal/protocol/kernel-client.js";
import { readProcessMemory } from "./process-memory.js";

/**
 * A local kernel process that leads its own process group, spawned or forked: signals go to the
 * group (so programs the code started go too), a death is told to the executor at once, and
 * stopping ends the whole group. The launchers differ only in how the process starts and how
 * its exit is seen; they call `exited` when it is.
 */
export class KernelProcessGroup {
  private stopping = false;
  private hasExited = false;
  private deathListener: ((reason: string) => void) | undefined;

  constructor(private readonly pid: number) {}

  /** Records the process's exit; a death the executor did not ask for is told to it. */
  exited(reason: string): void {
    this.hasExited = true;
    if (!this.stopping) this.deathListener?.(reason);
  }

  /** Sends a signal to the group, or to the process before it has made its group. */
  signal(killSignal: NodeJS.Signals, evenAfterExit = false): void {
    if (this.hasExited && !evenAfterExit) return;
    try {
      process.kill(-this.pid, killSignal);
    } catch {
      // No such group: gone, or the kernel has not called setpgid yet (its first milliseconds).
      if (!this.hasExited) {
        try {
          process.kill(this.pid, killSignal);
        } catch {
          // Already gone.
        }
      }
    }
  }

  /**
   * Waits for the kernel's first answer (`ready`), or for `stoppedWhileStarting`, which rejects
   * with the launcher's own words when the process ends first. A kernel that does not answer is
   * killed (and its `exit` awaited); a death becomes `ExecutorUnavailableError` with the
   * kernel's output (`readLog`).
   */
  async waitUntilReady(options: {
    ready: Promise<unknown>;
    stoppedWhileStarting: Promise<never>;
    exit: Promise<unknown>;
    readLog: () => Promise<string>;
  }): Promise<void> {
    const { exit, readLog } = options;
    try {
      await Promise.race([options.ready, options.stoppedWhileStarting]);
    } catch (error) {
      const log = await readLog();
      this.stopping = true;
      this.signal("SIGKILL");
      await Promise.race([exit, delay(2_000)]);
      if (KernelDiedError.isInstance(error)) {
        throw new ExecutorUnavailableError(`${error.message}${log ? `\nKernel output:\n${log}` : ""}`, { cause: error });
      }
      throw error;
    }
  }

  /** The connection the executor uses, once the kernel answered. */
  connection(options: {
    client: KernelClient;
    details: Record<string, string>;
    exit: Promise<unknown>;
    shutdownGraceMs: number;
  }): KernelConnection {
    const { client, exit, shutdownGraceMs } = options;
    return {
      client,
      details: options.details,
      readMemory: () => readProcessMemory(this.pid),
      interrupt: async () => {
        // SIGINT to the group also stops programs the code started (`!sleep 100`).
        this.signal("SIGINT");
      },
      onDeath: (listener) => {
        this.deathListener = listener;
      },
      stop: async ({ graceful = false } = {}) => {
        if (this.stopping) {
          await exit;
          return;
        }
        this.stopping = true;
        if (graceful && !this.hasExited) {
          await Promise.race([client.shutdown().catch(() => undefined), exit, delay(shutdownGraceMs)]);
          await Promise.race([exit, delay(shutdownGraceMs)]);
        }
        // Also after a graceful exit: programs the code left running in the group go too.
        this.signal("SIGKILL", true);
        // The exit may be reported over an unreferenced socket or pipe: hold the host open until it is.
        let hold: NodeJS.Timeout | undefined;
        await Promise.race([exit, new Promise((resolve) => (hold = setTimeout(resolve, 5_000)))]);
        clearTimeout(hold);
        client.close();
      },
    };
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
