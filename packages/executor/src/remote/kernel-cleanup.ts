import { spawnSync } from "node:child_process";

/**
 * Remote kernels must not outlive the process that started them: a forgotten kernel keeps its
 * memory on the server until someone deletes it. `stop()` deletes them in the normal case; this
 * registry covers the host process exiting or being signalled before that.
 *
 * Process-wide on purpose: process exit is process-wide, and one hook serves every executor.
 */

interface LiveKernel {
  /** `.../api/kernels/{id}` */
  url: string;
  token: string | undefined;
}

const liveKernels = new Map<string, LiveKernel>();
let hooksInstalled = false;

/** Environment variable carrying the targets to the helper process (not argv: tokens would show in `ps`). */
const TARGETS_VARIABLE = "TASKWEAVER_REMOTE_KERNELS_TO_DELETE";

/**
 * Deletes the kernels synchronously: `exit` handlers cannot wait for promises, so a short-lived
 * Node child process sends the DELETE requests while this one blocks (at most a few seconds).
 */
function deleteKernelsSynchronously(): void {
  if (liveKernels.size === 0) return;
  const targets = [...liveKernels.values()];
  liveKernels.clear();
  const script = `
    const targets = JSON.parse(process.env.${TARGETS_VARIABLE});
    Promise.allSettled(targets.map((target) => fetch(target.url, {
      method: "DELETE",
      headers: target.token ? { Authorization: "token " + target.token } : {},
      signal: AbortSignal.timeout(5000),
    }))).then(() => process.exit(0));`;
  spawnSync(process.execPath, ["-e", script], {
    stdio: "ignore",
    timeout: 10_000,
    env: { ...process.env, [TARGETS_VARIABLE]: JSON.stringify(targets) },
  });
}

function onSignal(signal: NodeJS.Signals): void {
  // Another listener means the application handles this signal itself (e.g. SIGINT to
  // interrupt a round) and exits through process.exit later, which runs the "exit" hook.
  if (process.listenerCount(signal) > 1) return;
  deleteKernelsSynchronously();
  // Die from the same signal, as if we had never been here.
  process.off(signal, onSignal);
  process.kill(process.pid, signal);
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", deleteKernelsSynchronously);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, onSignal);
}

function uninstallHooksWhenIdle(): void {
  if (!hooksInstalled || liveKernels.size > 0) return;
  hooksInstalled = false;
  process.off("exit", deleteKernelsSynchronously);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(signal, onSignal);
}

/** Remembers a kernel so that it is deleted if this process exits before `stop()`. */
export function registerRemoteKernelForExitCleanup(
  baseUrl: URL,
  kernelId: string,
  token: string | undefined,
): void {
  const url = new URL(`api/kernels/${encodeURIComponent(kernelId)}`, baseUrl).href;
  liveKernels.set(url, { url, token });
  installHooks();
}

/** Forgets a kernel that was deleted (or found dead) normally. */
export function unregisterRemoteKernelForExitCleanup(baseUrl: URL, kernelId: string): void {
  liveKernels.delete(new URL(`api/kernels/${encodeURIComponent(kernelId)}`, baseUrl).href);
  uninstallHooksWhenIdle();
}

/** URLs of the kernels this process would delete on exit (for tests and diagnostics). */
export function remoteKernelsPendingExitCleanup(): string[] {
  return [...liveKernels.keys()];
}
