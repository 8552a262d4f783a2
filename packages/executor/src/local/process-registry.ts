/**
 * The one piece of process-wide state in this package: the process groups of local kernels that
 * are alive, so they can be killed when the host process ends (normal exit, SIGINT, SIGTERM,
 * SIGHUP, uncaught exception). The hooks are installed once, on the first kernel.
 */
const liveProcessGroups = new Set<number>();
let hooksInstalled = false;

function killAll(): void {
  for (const pid of liveProcessGroups) {
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
  liveProcessGroups.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      // Another listener (a CLI interrupting its round on Ctrl-C) owns the signal: the process
      // lives on, and so do its kernels; the exit hook covers the case where it then exits.
      if (process.listenerCount(signal) > 1) return;
      killAll();
      // Restore the default action (terminate) that our listener replaced, and re-raise.
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
  process.on("uncaughtExceptionMonitor", () => {
    // With no handler the process is about to crash; a handler may keep it alive.
    if (process.listenerCount("uncaughtException") === 0) killAll();
  });
}

/** Registers a kernel's process group; returns the function that unregisters it. */
export function trackKernelProcessGroup(pid: number): () => void {
  installHooks();
  liveProcessGroups.add(pid);
  return () => {
    liveProcessGroups.delete(pid);
  };
}

/** Process groups currently tracked (for tests and diagnostics). */
export function trackedKernelProcessGroups(): number[] {
  return [...liveProcessGroups];
}
