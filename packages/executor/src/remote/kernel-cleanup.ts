import { spawnSync } from "node:child_process";
import { createExitCleanupList } from "../internal/exit-cleanup.js";

/**
 * Remote kernels must not outlive the process that started them: a forgotten kernel keeps its
 * memory on the server until someone deletes it. `stop()` deletes them in the normal case; this
 * list covers the host process exiting or being signalled before that (`internal/exit-cleanup.ts`).
 */

interface LiveKernel {
  /** `.../api/kernels/{id}` */
  url: string;
  token: string | undefined;
}

/** Environment variable carrying the targets to the helper process (not argv: tokens would show in `ps`). */
const TARGETS_VARIABLE = "TASKWEAVER_REMOTE_KERNELS_TO_DELETE";

/**
 * Deletes the kernels synchronously: `exit` handlers cannot wait for promises, so a short-lived
 * Node child process sends the DELETE requests while this one blocks (at most a few seconds).
 */
function deleteKernelsSynchronously(targets: LiveKernel[]): void {
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

const liveKernels = createExitCleanupList<string, LiveKernel>(deleteKernelsSynchronously);

function kernelUrl(baseUrl: URL, kernelId: string): string {
  return new URL(`api/kernels/${encodeURIComponent(kernelId)}`, baseUrl).href;
}

/** Remembers a kernel so that it is deleted if this process exits before `stop()`. */
export function registerRemoteKernelForExitCleanup(baseUrl: URL, kernelId: string, token: string | undefined): void {
  const url = kernelUrl(baseUrl, kernelId);
  liveKernels.add(url, { url, token });
}

/** Forgets a kernel that was deleted (or found dead) normally. */
export function unregisterRemoteKernelForExitCleanup(baseUrl: URL, kernelId: string): void {
  liveKernels.delete(kernelUrl(baseUrl, kernelId));
}

/** URLs of the kernels this process would delete on exit (for tests and diagnostics). */
export function remoteKernelsPendingExitCleanup(): string[] {
  return liveKernels.keys();
}
