import { readdir } from "node:fs/promises";

/** Options of `watchSandboxProcesses`. */
export interface SandboxProcessWatchOptions {
  /** Host pid of the sandboxed kernel; its mount namespace holds the sandbox's own /proc. */
  kernelPid: number;
  /** Processes the sandbox may hold (`execution_service.local.pids_limit`). */
  limit: number;
  /** Called once when the sandbox holds more; the caller kills it. */
  onExceeded: (count: number) => void;
  /** @default 50 */
  intervalMs?: number;
}

/**
 * Counts the processes of a sandbox's pid namespace (the numeric entries of its /proc, seen
 * through `/proc/<kernel>/root/proc`: one readdir) for as long as the kernel lives. RLIMIT_NPROC
 * does not bind root, and there is no writable pids cgroup here: this is the pids limit of a
 * sandbox run by root. Sampled, so a fast fork loop passes the limit by what it forks in one
 * interval before the sandbox is ended. Returns the function that stops the watch.
 */
export function watchSandboxProcesses(options: SandboxProcessWatchOptions): () => void {
  const intervalMs = options.intervalMs ?? 50;
  const procfs = `/proc/${options.kernelPid}/root/proc`;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const sample = async () => {
    const entries = await readdir(procfs).catch(() => undefined);
    if (stopped) return;
    // The kernel is gone (its exit is reported elsewhere).
    if (entries === undefined) return;
    const count = entries.filter((entry) => /^\d+$/.test(entry)).length;
    if (count > options.limit) {
      stopped = true;
      options.onExceeded(count);
      return;
    }
    timer = setTimeout(() => {
      void sample();
    }, intervalMs);
    timer.unref?.();
  };
  void sample();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** A sandbox's pids limit as a kernel launcher keeps it: the watch, and why the sandbox was ended. */
export interface SandboxPidsLimit {
  stop(): void;
  /** Set once the sandbox was ended for holding too many processes: the death's reason. */
  readonly endedBecause: string | undefined;
}

/**
 * Keeps `execution_service.local.pids_limit` for a sandboxed kernel (see `watchSandboxProcesses`):
 * over the limit, `kill` ends the sandbox and `endedBecause` says why. No limit: nothing watched.
 */
export function keepSandboxPidsLimit(kernelPid: number, pidsLimit: number | undefined, kill: () => void): SandboxPidsLimit {
  let endedBecause: string | undefined;
  const stop =
    pidsLimit === undefined
      ? () => undefined
      : watchSandboxProcesses({
          kernelPid,
          limit: pidsLimit,
          onExceeded: (count) => {
            endedBecause = `the sandbox held ${count} processes, more than execution_service.local.pids_limit (${pidsLimit}), and was ended`;
            kill();
          },
        });
  return {
    stop,
    get endedBecause() {
      return endedBecause;
    },
  };
}
