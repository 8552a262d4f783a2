/**
 * The package's one process-wide hook: what a runtime started (local kernel process groups,
 * Docker containers, remote kernels) must not outlive the host process, and `stop()` does not
 * run when the process exits early or is signalled. Each runtime keeps its live resources in a
 * list created here, with a synchronous clean-up for them; the hooks (`exit`, SIGINT, SIGTERM,
 * SIGHUP, an uncaught exception about to crash the process) are installed while any list holds
 * something, and run every list's clean-up once.
 *
 * Process-wide on purpose: process exit is process-wide. One listener per signal (instead of one
 * per runtime) also keeps the "does the application handle this signal itself?" test honest: a
 * second runtime's listener would otherwise count as the application's.
 */

/** Live resources of one kind, cleaned up synchronously if the process ends before they are removed. */
export interface ExitCleanupList<Key, Value> {
  /** Remembers a resource (installs the hooks on the first one). */
  add(key: Key, value: Value): void;
  /** Forgets a resource removed normally (removes the hooks when nothing is left anywhere). */
  delete(key: Key): void;
  /** Keys of the resources the clean-up would handle now (for tests and diagnostics). */
  keys(): Key[];
}

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

interface RegisteredList {
  entries: Map<unknown, unknown>;
  cleanup: (values: unknown[]) => void;
}

const lists = new Set<RegisteredList>();
let hooksInstalled = false;

/** Runs each list's clean-up on what it holds, emptying it first so a second call does nothing. */
function cleanUpEverything(): void {
  for (const list of lists) {
    if (list.entries.size === 0) continue;
    const values = [...list.entries.values()];
    list.entries.clear();
    try {
      list.cleanup(values);
    } catch {
      // One runtime's failure must not keep the others from cleaning up.
    }
  }
  uninstallHooksWhenIdle();
}

function onSignal(signal: NodeJS.Signals): void {
  // Another listener means the application handles this signal itself (a CLI interrupting its
  // round on Ctrl-C) and lives on, or exits through process.exit later, which runs "exit".
  if (process.listenerCount(signal) > 1) return;
  // We are the only listener, so without us the signal would have ended the process: clean up,
  // then die from the same signal as if we had never been here.
  cleanUpEverything();
  process.off(signal, onSignal);
  process.kill(process.pid, signal);
}

function onUncaughtException(): void {
  // With no handler the process is about to crash; a handler may keep it alive.
  if (process.listenerCount("uncaughtException") === 0) cleanUpEverything();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", cleanUpEverything);
  for (const signal of SIGNALS) process.on(signal, onSignal);
  process.on("uncaughtExceptionMonitor", onUncaughtException);
}

function uninstallHooksWhenIdle(): void {
  if (!hooksInstalled) return;
  for (const list of lists) if (list.entries.size > 0) return;
  hooksInstalled = false;
  process.off("exit", cleanUpEverything);
  for (const signal of SIGNALS) process.off(signal, onSignal);
  process.off("uncaughtExceptionMonitor", onUncaughtException);
}

/**
 * A list of live resources with its synchronous clean-up (`exit` handlers cannot wait for
 * promises). The clean-up gets every value still listed and must not throw.
 */
export function createExitCleanupList<Key, Value>(cleanup: (values: Value[]) => void): ExitCleanupList<Key, Value> {
  const entries = new Map<Key, Value>();
  lists.add({ entries, cleanup: cleanup as (values: unknown[]) => void });
  return {
    add(key, value) {
      entries.set(key, value);
      installHooks();
    },
    delete(key) {
      entries.delete(key);
      uninstallHooksWhenIdle();
    },
    keys: () => [...entries.keys()],
  };
}

/** True while the hooks are installed (for tests). */
export function exitHooksInstalled(): boolean {
  return hooksInstalled;
}
