import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { hostname } from "node:os";
import { createExitCleanupList } from "../internal/exit-cleanup.js";
import type { DockerEndpoint, DockerEngineClient } from "./engine-client.js";
import { HOST_NAME_LABEL, HOST_PID_LABEL, IPC_DIR_LABEL, MANAGED_LABEL } from "./container-options.js";

/**
 * Kernel containers must not outlive the process that started them. `stop()` removes them in
 * the normal case; this module covers the others: the host process exiting or being signalled
 * (the package's exit hooks, `internal/exit-cleanup.ts`), and a host that was killed outright
 * (stale containers removed at the next start).
 */

interface LiveContainer {
  id: string;
  endpoint: DockerEndpoint;
  ipcDirectory: string;
}

/**
 * Removes containers synchronously: `exit` handlers cannot wait for promises, so a short-lived
 * Node child process makes the API calls while this one blocks.
 */
function removeContainersSynchronously(containers: LiveContainer[]): void {
  for (const live of containers) rmSync(live.ipcDirectory, { recursive: true, force: true });
  const targets = containers.map((live) => ({ id: live.id, endpoint: live.endpoint }));
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

const liveContainers = createExitCleanupList<string, LiveContainer>(removeContainersSynchronously);

/** Remembers a container so that it is removed if this process exits before `stop()`. */
export function registerContainerForExitCleanup(id: string, endpoint: DockerEndpoint, ipcDirectory: string): void {
  liveContainers.add(id, { id, endpoint, ipcDirectory });
}

/** Forgets a container that was removed normally. */
export function unregisterContainerForExitCleanup(id: string): void {
  liveContainers.delete(id);
}

/** Ids of containers this process would remove on exit (for tests and diagnostics). */
export function containersPendingExitCleanup(): string[] {
  return liveContainers.keys();
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
