import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { ExecutorUnavailableError, KernelDiedError } from "@taskweaver/core";
import type { KernelConnection } from "../kernel-executor.js";
import { forkOnce, signalForked, type ForkedExit } from "../internal/fork-protocol.js";
import { createKernelClient } from "../internal/protocol/kernel-client.js";
import { createZmqTransport } from "../internal/protocol/zmq-transport.js";
import type { SupportInstallOptions } from "../internal/support-code.js";
import type { ContainerSecurityOptions } from "./container-options.js";
import { CONTAINER_IPC_DIRECTORY, createIpcConnection, type KernelContainer } from "./kernel-container.js";

/** Options of `TemplateContainer.launchKernel`. */
export interface ForkInContainerOptions {
  signal?: AbortSignal;
}

/** How long a killed kernel may take to be reported gone before its files are removed anyway. */
const KILL_WAIT_MS = 3_000;

/**
 * A container whose main process is the fork template (`taskweaver_fork_server.py`), and the
 * kernels forked in it, one at a time. The host reaches the template's socket through the
 * bind-mounted ipc directory and signals the kernels through it (they are in the container's
 * pid namespace, not the host's). A kernel's end leaves the container for the next one when a
 * session owns it (`adopt`), so a restart is a fork, not a container start; the template's end
 * ends the container and its kernel, reported as the container's death.
 */
export class TemplateContainer {
  private sequence = 0;
  private owner: "kernel" | "session" = "kernel";
  private removing: Promise<void> | undefined;

  constructor(
    readonly container: KernelContainer,
    private readonly security: ContainerSecurityOptions,
    /**
     * The support code's options; when set and the template loaded the support code, each child
     * installs it before its first request and is handed out `prepared`.
     */
    private readonly supportOptions: Omit<SupportInstallOptions, "workdir"> | undefined,
    /** Called once the container is removed (the launcher drops its pool folder). */
    private readonly onRemoved: () => Promise<void> = () => Promise.resolve(),
  ) {}

  /** False once the template (the container) has ended or the container is being removed. */
  get alive(): boolean {
    return this.container.exit === undefined && this.removing === undefined;
  }

  /**
   * The session that took this container's kernel keeps the container: its kernels' ends no longer
   * remove it; `remove()` does, when the session ends.
   */
  adopt(): void {
    this.owner = "session";
  }

  /** Removes the container (its template and kernel die with it); idempotent. */
  remove(): Promise<void> {
    this.removing ??= this.container.remove().finally(() => this.onRemoved());
    return this.removing;
  }

  /** Forks a kernel in the container and resolves once it answers; see `KernelConnection`. */
  async launchKernel(options: ForkInContainerOptions = {}): Promise<KernelConnection> {
    const { container } = this;
    const socket = container.templateSocket;
    this.sequence += 1;
    const name = `k${this.sequence}`;
    const { host: connection, container: containerConnection } = createIpcConnection(container.ipcDirectory, name);
    const hostFiles = [`${name}.json`, `${name}.log`].map((file) => join(container.ipcDirectory, file));
    writeFileSync(hostFiles[0]!, JSON.stringify(containerConnection), { mode: 0o644 });
    const removeFiles = () => {
      for (const file of hostFiles) rmSync(file, { force: true });
    };
    const readLog = () => {
      try {
        return readFileSync(hostFiles[1]!, "utf8").trim().slice(-4000);
      } catch {
        return "";
      }
    };

    // Connected before the fork: ZeroMQ retries every few milliseconds until the child binds.
    const client = createKernelClient(createZmqTransport(connection));
    const answered = client.waitForReady({
      signal: options.signal,
      timeoutMs: this.security.startTimeoutSeconds * 1000,
      timeoutSetting: "execution_service.docker.start_timeout",
    });
    answered.catch(() => undefined);
    const forkedAt = Date.now();
    const installsSupport = this.supportOptions !== undefined && container.template?.support === true;
    const workdir = this.security.containerWorkingDirectory;
    let forked;
    try {
      forked = await forkOnce(
        socket,
        {
          connectionFile: `${CONTAINER_IPC_DIRECTORY}/${name}.json`,
          cwd: workdir,
          logFile: `${CONTAINER_IPC_DIRECTORY}/${name}.log`,
          ...(installsSupport ? { supportOptions: { ...this.supportOptions, workdir } } : {}),
        },
        container.exited,
      );
    } catch (error) {
      client.close();
      removeFiles();
      throw error;
    }
    const pid = forked.pid;
    let stopping = false;
    let ended = false;
    let deathListener: ((reason: string) => void) | undefined;

    const exit = forked.exit.then(async (status: ForkedExit) => {
      ended = true;
      const reason = await this.describeExit(status, stopping, forkedAt);
      client.fail(new KernelDiedError(`The Python kernel died: ${reason}.`));
      return reason;
    });
    const release = async (keepContainer: boolean) => {
      client.close();
      removeFiles();
      if (!keepContainer || this.owner === "kernel" || !this.alive) await this.remove();
    };

    try {
      await Promise.race([
        answered,
        exit.then((reason) => {
          const log = readLog();
          throw new ExecutorUnavailableError(
            `The kernel forked in container ${container.name} stopped while starting: ${reason}.${log ? `\nIts output:\n${log}` : ""}`,
          );
        }),
      ]);
    } catch (error) {
      stopping = true;
      if (!ended) await signalForked(socket, pid, "SIGKILL").catch(() => undefined);
      await release(true);
      throw error;
    }

    void exit.then((reason) => {
      if (stopping) return;
      deathListener?.(reason);
      // The executor forks a new kernel and never stops this one.
      void release(true).catch(() => undefined);
    });

    const details: Record<string, string> = {
      containerId: container.id.slice(0, 12),
      containerName: container.name,
      image: this.security.image,
      docker: container.engine.endpoint.description,
      start: "fork",
      pid: String(pid),
    };
    return {
      client,
      details,
      ...(installsSupport ? { prepared: true, bound: true } : {}),
      // SIGINT to the kernel's process group, not to the template (tini's child).
      interrupt: async () => {
        if (!ended) await signalForked(socket, pid, "SIGINT").catch(() => undefined);
      },
      onDeath(listener) {
        deathListener = listener;
      },
      async stop(stopOptions) {
        if (stopping) return;
        stopping = true;
        if (!ended) {
          await signalForked(socket, pid, "SIGKILL").catch(() => undefined);
          await Promise.race([exit, delay(KILL_WAIT_MS)]);
        }
        // A graceful stop is the session's end; a restart (not graceful) forks the next kernel here.
        await release(stopOptions?.graceful !== true);
      },
    };
  }

  private async describeExit(status: ForkedExit, stopping: boolean, forkedAt: number): Promise<string> {
    if (status.templateLost) return (await this.container.exited).reason;
    if (status.signal === "SIGKILL" && !stopping) {
      // The container lives on, so its OOMKilled flag is not set (and would stay set): the
      // engine's event says it, and it may arrive a moment after the kill.
      for (let attempt = 0; attempt < 4; attempt += 1) {
        if (await this.container.outOfMemorySince(forkedAt)) return this.container.outOfMemoryReason;
        await delay(50);
      }
    }
    return status.signal ? `the kernel process was killed by ${status.signal}` : `the kernel process exited with code ${status.code}`;
  }
}
