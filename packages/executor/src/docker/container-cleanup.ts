import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { hostname } from "node:os";
import { createExitCleanupList } from "../internal/exit-cleanup.js";
import { dockerModemOptions, type DockerEndpoint, type DockerEngineClient } from "./engine-client.js";
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
 * dockerode's transport, docker-modem, resolved through dockerode (it is dockerode's dependency,
 * not ours): the exit path loads only it, which starts in a third of the time of all of dockerode.
 */
const modemPath = createRequire(createRequire(import.meta.url).resolve("dockerode")).resolve("docker-modem");

/**
 * Removes containers synchronously: `exit` handlers cannot wait for promises, and Node has no
 * synchronous HTTP, so a short-lived Node child process sends the removals through docker-modem
 * (the same transport and connection options as this process: unix socket, TCP, TLS or ssh)
 * while this one blocks. The options, which may hold TLS keys, go through the child's stdin,
 * not argv or the environment.
 */
function removeContainersSynchronously(containers: LiveContainer[]): void {
  for (const live of containers) rmSync(live.ipcDirectory, { recursive: true, force: true });
  const targets = containers.map((live) => ({ id: live.id, options: dockerModemOptions(live.endpoint) }));
  const script = `
    const Modem = require(${JSON.stringify(modemPath)});
    const targets = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
    Promise.allSettled(targets.map((target) => new Promise((resolve) => new Modem(target.options).dial({
      path: "/containers/" + target.id + "?",
      method: "DELETE",
      options: { force: true, v: true },
      statusCodes: { 200: true, 204: true, 404: true, 409: true },
      abortSignal: AbortSignal.timeout(8000),
    }, resolve)))).then(() => process.exit(0));`;
  // The child must not read the DOCKER_* variables: docker-modem lays the given options over them.
  const env = { ...process.env };
  for (const name of ["DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"]) delete env[name];
  spawnSync(process.execPath, ["-e", script], {
    input: JSON.stringify(targets),
    stdio: ["pipe", "ignore", "ignore"],
    timeout: 15_000,
    env,
  });
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
