import { createExitCleanupList } from "../internal/exit-cleanup.js";

/**
 * The process groups of local kernels that are alive, killed when the host process ends before
 * their executors stop (see `internal/exit-cleanup.ts` for when that runs).
 */
const liveProcessGroups = createExitCleanupList<number, number>((pids) => {
  for (const pid of pids) {
    try {
      // Negative pid: the whole group, including processes the code started (`!sleep 100`).
      process.kill(-pid, "SIGKILL");
    } catch {
      try {
        // The kernel may not have made its own group yet.
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  }
});

/** Registers a kernel's process group; returns the function that unregisters it. */
export function trackKernelProcessGroup(pid: number): () => void {
  liveProcessGroups.add(pid, pid);
  return () => liveProcessGroups.delete(pid);
}

/** Process groups currently tracked (for tests and diagnostics). */
export function trackedKernelProcessGroups(): number[] {
  return liveProcessGroups.keys();
}
