import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { hostname } from "node:os";
import type { DockerEndpoint, DockerEngineClient } from "./engine-client.js";
import { HOST_NAME_LABEL, HOST_PID_LABEL, IPC_DIR_LABEL, MANAGED_LABEL } from "./container-options.js";

/**
 * Kernel containers must not outlive the process that started them. `stop()` removes them in
 * the normal case; this module covers the others: the host process exiting or being signalled
 * (exit hooks), and a host that was killed outright (stale containers removed at the next start).
 *
 * The registry is process-wide on purpose: process exit is process-wide, and every executor in
 * the process must be cleaned up by the one hook.
 */

interface LiveContainer {
  endpoint: DockerEndpoint;
  ipcDirectory: string;
}

const liveContainers = new Map<string, LiveContainer>();
let hooksInstalled = false;

/**
 * Removes containers synchronously: `exit` handlers cannot wait for promises, so a short-lived
 * Node child process makes the API calls while this one blocks.
 */
function removeContainersSynchronously(): void {
  if (liveContainers.size === 0) return;
  const targets = [...liveContainers.entries()].map(([id, live]) => ({ id, endpoint: live.endpoint }));
  for (const live of liveContainers.values()) rmSync(live.ipcDirectory, { recursive: true, force: true });
  liveContainers.clear();
  const script = `
    const http = require("node:http");
    const targets = JSON.parse(process.argv[1]);
    let pending = targets.length;
    for (const target of targets) {
      const where = target.endpoint.kind === "unix"
        ? { socketPath: target.endpoint.socketPath }
        : { host: target.endpoint.host, port: target.endpoint.port };
      const request = http.request({ ...where, method: "DELETE", path: "/containers/" + target.id + "?force=true&v=true", timeout: 8000 },
        (response) => { response.resume(); response.on("end", () => { if (--pending === 0) process.exit(0); }); });
      request.on("error", () => { if (--pending === 0) process.exit(0); });
      request.on("timeout", () => request.destroy());
      request.end();
    }`;
  spawnSync(process.execPath, ["-e", script, JSON.stringify(targets)], { stdio: "ignore", timeout: 15_000 });
}

function onSignal(signal: NodeJS.Signals): void {
  // Another listener means the application handles this signal itself (e.g. SIGINT to
  // interrupt a round) and will exit through process.exit, which runs the "exit" hook.
  if (process.listenerCount(signal) > 1) return;
  // We are the only listener, so without us the signal would have killed the process: clean up,
  // then die from the same signal as if we had never been here.
  removeContainersSynchronously();
  process.off(signal, onSignal);
  process.kill(process.pid, signal);
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", removeContainersSynchronously);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, onSignal);
}

function uninstallHooksWhenIdle(): void {
  if (!hooksInstalled || liveContainers.size > 0) return;
  hooksInstalled = false;
  process.off("exit", removeContainersSynchronously);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(signal, onSignal);
}

/** Remembers a container so that it is removed if this process exits before `stop()`. */
export function registerContainerForExitCleanup(id: string, endpoint: DockerEndpoint, ipcDirectory: string): void {
  liveContainers.set(id, { endpoint, ipcDirectory });
  installHooks();
}

/** Forgets a container that was removed normally. */
export function unregisterContainerForExitCleanup(id: string): void {
  liveContainers.delete(id);
  uninstallHooksWhenIdle();
}

/** Ids of containers this process would remove on exit (for tests and diagnostics). */
export function containersPendingExitCleanup(): string[] {
  return [...liveContainers.keys()];
}

/** True when a process with this pid exists on this machine. */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export interface StaleCleanupOptions {
  /** @default os.hostname() */
  hostName?: string;
  /** @default isProcessAlive */
  isAlive?: (pid: number) => boolean;
}

/**
 * Removes managed containers started on this machine by a process that no longer exists
 * (a host killed with SIGKILL, a crash). Containers of live processes, and of other machines
 * sharing the engine, are left alone. Returns the ids removed.
 */
export async function removeStaleContainers(
  client: DockerEngineClient,
  options: StaleCleanupOptions = {},
): Promise<string[]> {
  const name = options.hostName ?? hostname();
  const isAlive = options.isAlive ?? isProcessAlive;
  const containers = await client.listContainers([`${MANAGED_LABEL}=true`, `${HOST_NAME_LABEL}=${name}`]);
  const removed: string[] = [];
  for (const container of containers) {
    const pid = Number(container.Labels?.[HOST_PID_LABEL]);
    if (pid === process.pid || isAlive(pid)) continue;
    await client.removeContainer(container.Id);
    const ipcDirectory = container.Labels?.[IPC_DIR_LABEL];
    if (ipcDirectory) rmSync(ipcDirectory, { recursive: true, force: true });
    removed.push(container.Id);
  }
  return removed;
}
