import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { AbortedError, ExecutorUnavailableError, KernelDiedError, TaskWeaverError } from "@taskweaver/core";
import {
  registerContainerForExitCleanup,
  removeStaleContainers,
  unregisterContainerForExitCleanup,
} from "./container-cleanup.js";
import {
  HOST_NAME_LABEL,
  HOST_PID_LABEL,
  IPC_DIR_LABEL,
  MANAGED_LABEL,
  SESSION_LABEL,
  DEFAULT_CONTAINER_USER,
  parseNumericUser,
  type ContainerSecurityOptions,
} from "./container-options.js";
import { parseForkTemplateReady, type ForkTemplateReady } from "../internal/fork-protocol.js";
import { DockerApiError, SWITCH_TO_LOCAL_HINT, type ContainerMemory, type DockerEngineClient } from "./engine-client.js";

/** A Jupyter connection file (the format ipykernel reads with `-f`). */
export interface KernelConnectionInfo {
  transport: "ipc" | "tcp";
  /** For `ipc`, the socket path prefix: channel sockets are `<ip>-<port>`. */
  ip: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: "hmac-sha256";
  kernel_name: string;
}

export type KernelChannel = "shell" | "iopub" | "stdin" | "control" | "hb";

/** The ZeroMQ address of one channel: `ipc://<ip>-<port>` or `tcp://<ip>:<port>`. */
export function channelAddress(info: KernelConnectionInfo, channel: KernelChannel): string {
  const port = info[`${channel}_port`];
  return info.transport === "ipc" ? `ipc://${info.ip}-${port}` : `tcp://${info.ip}:${port}`;
}

/**
 * A connection with a fresh key whose ipc sockets are `<name>-<port>` in a container's ipc
 * directory: as the host sees them, and as the kernel in the container does.
 */
export function createIpcConnection(
  ipcDirectory: string,
  name: string,
): { host: KernelConnectionInfo; container: KernelConnectionInfo } {
  const base = {
    transport: "ipc" as const,
    shell_port: 1,
    iopub_port: 2,
    stdin_port: 3,
    control_port: 4,
    hb_port: 5,
    key: randomBytes(32).toString("hex"),
    signature_scheme: "hmac-sha256" as const,
    kernel_name: "python3",
  };
  return { host: { ...base, ip: join(ipcDirectory, name) }, container: { ...base, ip: `${CONTAINER_IPC_DIRECTORY}/${name}` } };
}

/** How a kernel container ended. */
export interface ContainerExit {
  exitCode: number;
  /** The kernel was killed for going over the memory limit. */
  oomKilled: boolean;
  /** One sentence for the user, e.g. "the kernel ran out of memory (limit 1024 MiB) and was killed". */
  reason: string;
}

/** Where the container sees its mounts. */
export const CONTAINER_IPC_DIRECTORY = "/home/taskweaver/.kernel";
/** Where a fork template's container sees the package's `python/` folder (mounted read-only). */
export const CONTAINER_PYTHON_DIRECTORY = "/opt/taskweaver";
/** The fork template's socket, in the ipc directory (host and container see the same file). */
export const TEMPLATE_SOCKET_NAME = "fork";
/** ipykernel's arguments in a template: no history database, whose thread would make fork unsafe. */
const TEMPLATE_KERNEL_ARGV = ["--HistoryManager.enabled=False"];

const SETUP = [
  "import os, shutil, sys",
  "os.umask(int(sys.argv[2], 8))",
  // Matplotlib wants a writable config dir; start it from the font cache built into the image.
  "seed, target = '/home/taskweaver/.config/matplotlib', os.environ.get('MPLCONFIGDIR', '')",
  "if target and os.path.isdir(seed) and not os.path.exists(target): shutil.copytree(seed, target)",
];

/**
 * Started from the image's Python: sets the umask (so the host user can reach the sockets and
 * manage the files the kernel writes) and runs ipykernel on the mounted connection file.
 */
const BOOTSTRAP = [
  ...SETUP,
  "from ipykernel.kernelapp import launch_new_instance",
  "launch_new_instance(argv=['-f', sys.argv[1]])",
].join("\n");

/**
 * The same set-up, then the package's fork template (argv: its file, the umask, then the
 * template's own arguments): the container's main process under tini, forking the kernels.
 */
const TEMPLATE_BOOTSTRAP = [
  ...SETUP,
  "import runpy",
  "sys.argv = [sys.argv[1]] + sys.argv[3:]",
  "runpy.run_path(sys.argv[0], run_name='__main__')",
].join("\n");

/** What a container's main process is: one kernel, or a fork template that forks them. */
export type ContainerKernelMode =
  | { kind: "kernel" }
  | {
      kind: "template";
      /** Modules the template imports ahead (`execution_service.preload_modules`). */
      preloadModules: readonly string[];
      /** Host path of the package's `python/` folder, mounted read-only. */
      pythonDirectory: string;
    };

export interface StartKernelContainerOptions {
  client: DockerEngineClient;
  security: ContainerSecurityOptions;
  /** Host directory mounted as the kernel's working directory. */
  workingDirectory: string;
  sessionId: string;
  signal?: AbortSignal;
  /** Extra environment variables for the kernel. */
  environment?: Record<string, string>;
  /** @default { kind: "kernel" } */
  mode?: ContainerKernelMode;
}

function isRootOnHost(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

/**
 * The user the kernel runs as, and how the host shares directories with it:
 * - host is root: the configured user (default 10001); directories are handed over with chown;
 * - host is an ordinary user and the user is the default: the host's own uid and gid, which are
 *   not root either, so nothing needs opening up to other local users;
 * - host is an ordinary user and another user is configured: directories are opened to everyone
 *   (0777) and the kernel's umask is 000, since the host cannot chown.
 */
export function resolveContainerUser(configured: string): { user: string; share: "chown" | "none" | "open"; umask: string } {
  if (isRootOnHost()) return { user: configured, share: parseNumericUser(configured) ? "chown" : "open", umask: "022" };
  if (configured === DEFAULT_CONTAINER_USER && typeof process.getuid === "function" && typeof process.getgid === "function") {
    return { user: `${process.getuid()}:${process.getgid()}`, share: "none", umask: "022" };
  }
  return { user: configured, share: "open", umask: "000" };
}

/** Makes a host directory usable by the container user (see `resolveContainerUser`). */
function shareDirectoryWithContainer(path: string, user: string, share: "chown" | "none" | "open"): void {
  const numeric = parseNumericUser(user);
  if (share === "chown" && numeric) chownSync(path, numeric.uid, numeric.gid);
  else if (share === "open") chmodSync(path, 0o777);
}

/**
 * The parent of every kernel's ipc directory is shared by all users of the machine, like /tmp:
 * world-writable with the sticky bit, so nobody can remove another user's directories.
 */
function createSharedParent(path: string): void {
  if (!existsSync(path)) {
    mkdirSync(path, { recursive: true });
    chmodSync(path, 0o1777);
    return;
  }
  const info = statSync(path);
  if (typeof process.getuid === "function" && info.uid === process.getuid() && (info.mode & 0o1777) !== 0o1777) {
    chmodSync(path, 0o1777);
  }
}

function sanitizeName(text: string): string {
  return text.replace(/[^a-zA-Z0-9_.-]/g, "-").replace(/^[^a-zA-Z0-9]+/, "").slice(0, 40) || "session";
}

function formatMebibytes(bytes: number): string {
  return `${Math.round(bytes / 1024 ** 2)} MiB`;
}

/** The container spec: every safety default lives here, in one place. */
export function buildContainerSpec(options: {
  security: ContainerSecurityOptions;
  workingDirectory: string;
  ipcDirectory: string;
  sessionId: string;
  umask: string;
  environment?: Record<string, string>;
  /** @default { kind: "kernel" } */
  mode?: ContainerKernelMode;
}): Record<string, unknown> {
  const { security } = options;
  const mode = options.mode ?? { kind: "kernel" };
  const environment = {
    HOME: "/home/taskweaver",
    // The kernel's uid may have no passwd entry (see resolveContainerUser): name it for getpass.
    USER: "taskweaver",
    LOGNAME: "taskweaver",
    // The root filesystem is read-only: IPython, Jupyter and caches write under /tmp instead.
    IPYTHONDIR: "/tmp/.ipython",
    JUPYTER_RUNTIME_DIR: "/tmp/.jupyter",
    XDG_CACHE_HOME: "/tmp/.cache",
    MPLCONFIGDIR: "/tmp/.matplotlib",
    MPLBACKEND: "Agg",
    PYTHONUNBUFFERED: "1",
    PYTHONDONTWRITEBYTECODE: "1",
    ...(mode.kind === "template"
      ? {
          PYDEVD_DISABLE_FILE_VALIDATION: "1",
          // A host of another uid than the kernel's (umask 000, see resolveContainerUser) must reach the socket.
          ...(options.umask === "000" ? { TASKWEAVER_FORK_SOCKET_MODE: "666" } : {}),
        }
      : {}),
    ...options.environment,
  };
  const hostConfig: Record<string, unknown> = {
    Binds: [
      `${options.workingDirectory}:${security.containerWorkingDirectory}:rw`,
      `${options.ipcDirectory}:${CONTAINER_IPC_DIRECTORY}:rw`,
      ...(mode.kind === "template" ? [`${mode.pythonDirectory}:${CONTAINER_PYTHON_DIRECTORY}:ro`] : []),
    ],
    NetworkMode: security.networkMode,
    Memory: security.memoryBytes,
    // Equal to Memory: no swap, so going over the limit kills the kernel instead of thrashing.
    MemorySwap: security.memoryBytes,
    NanoCpus: Math.round(security.cpus * 1e9),
    PidsLimit: security.pidsLimit,
    CapDrop: security.capDrop,
    SecurityOpt: security.noNewPrivileges ? ["no-new-privileges"] : [],
    ReadonlyRootfs: security.readOnlyRoot,
    Tmpfs: { "/tmp": `rw,nosuid,nodev,size=${security.tmpfsSize}` },
    // tini as PID 1 forwards SIGINT (interrupts) to the kernel and reaps its children.
    Init: true,
    AutoRemove: false,
  };
  return {
    Image: security.image,
    Cmd:
      mode.kind === "template"
        ? [
            security.python,
            "-c",
            TEMPLATE_BOOTSTRAP,
            `${CONTAINER_PYTHON_DIRECTORY}/taskweaver_fork_server.py`,
            options.umask,
            `${CONTAINER_IPC_DIRECTORY}/${TEMPLATE_SOCKET_NAME}`,
            JSON.stringify(mode.preloadModules),
            `${CONTAINER_PYTHON_DIRECTORY}/taskweaver_support.py`,
            JSON.stringify(TEMPLATE_KERNEL_ARGV),
          ]
        : [security.python, "-c", BOOTSTRAP, `${CONTAINER_IPC_DIRECTORY}/kernel.json`, options.umask],
    User: security.user,
    WorkingDir: security.containerWorkingDirectory,
    Env: Object.entries(environment).map(([key, value]) => `${key}=${value}`),
    NetworkDisabled: security.networkMode === "none",
    Labels: {
      [MANAGED_LABEL]: "true",
      [HOST_PID_LABEL]: String(process.pid),
      [HOST_NAME_LABEL]: hostname(),
      [SESSION_LABEL]: options.sessionId,
      [IPC_DIR_LABEL]: options.ipcDirectory,
    },
    HostConfig: hostConfig,
  };
}

/** Stale containers are looked for once per engine and process, not at every kernel start. */
const cleanedEngines = new WeakSet<DockerEngineClient>();

/**
 * Checks that the engine answers and the image exists, with messages that say what to do.
 * Also removes stale containers of dead host processes (once per client).
 */
export async function checkDockerReady(client: DockerEngineClient, image: string): Promise<void> {
  try {
    await client.ping();
  } catch (error) {
    const reason = TaskWeaverError.isInstance(error) ? error.message : String(error);
    throw new ExecutorUnavailableError(
      `The container runtime (execution_service.kernel_mode = "container") needs Docker. ${reason} ` +
        `Start Docker (or run scripts/docker-engine.sh and set DOCKER_HOST as it prints). ${SWITCH_TO_LOCAL_HINT}`,
      { cause: error },
    );
  }
  if (!cleanedEngines.has(client)) {
    cleanedEngines.add(client);
    await removeStaleContainers(client);
  }
  if (!(await client.imageExists(image))) {
    throw new ExecutorUnavailableError(
      `The executor image "${image}" is not in the Docker engine at ${client.endpoint.description}. ` +
        `Build it with packages/executor/docker/build-image.sh (no registry needed) or ` +
        `"docker build -t ${image} packages/executor/docker", or set execution_service.custom_image ` +
        `to an image that has Python with ipykernel. ${SWITCH_TO_LOCAL_HINT}`,
    );
  }
}

/**
 * One kernel in one container. The host talks to it over ZeroMQ ipc sockets in a bind-mounted
 * directory, so no port is published and the container needs no network.
 */
export class KernelContainer {
  readonly id: string;
  /** Connection info as the host sees it (socket paths on the host). */
  readonly connection: KernelConnectionInfo;
  /** Host directory holding the connection file and sockets. */
  readonly ipcDirectory: string;
  /** Resolves when the container stops, for whatever reason (never rejects). */
  readonly exited: Promise<ContainerExit>;
  /** What the main process is: one kernel, or a fork template. */
  readonly mode: ContainerKernelMode;
  private readonly client: DockerEngineClient;
  private readonly security: ContainerSecurityOptions;
  private readonly stopWaiting = new AbortController();
  private exitInfo: ContainerExit | undefined;
  private removed = false;
  private currentName: string;
  private templateReady: ForkTemplateReady | undefined;

  private constructor(init: {
    id: string;
    name: string;
    connection: KernelConnectionInfo;
    ipcDirectory: string;
    client: DockerEngineClient;
    security: ContainerSecurityOptions;
    mode: ContainerKernelMode;
  }) {
    this.id = init.id;
    this.currentName = init.name;
    this.connection = init.connection;
    this.ipcDirectory = init.ipcDirectory;
    this.client = init.client;
    this.security = init.security;
    this.mode = init.mode;
    this.exited = this.watchExit();
  }

  /** The fork template's ready line, once a template container has started. */
  get template(): ForkTemplateReady | undefined {
    return this.templateReady;
  }

  /** The fork template's socket as the host sees it. */
  get templateSocket(): string {
    return join(this.ipcDirectory, TEMPLATE_SOCKET_NAME);
  }

  /** The engine client the container was made with (for the kernels forked in it). */
  get engine(): DockerEngineClient {
    return this.client;
  }

  /** Whether the memory limit killed a process of this container since `sinceMs` (epoch ms). */
  async outOfMemorySince(sinceMs: number): Promise<boolean> {
    return (await this.client.containerOomEventsSince(this.id, sinceMs).catch(() => 0)) > 0;
  }

  /** The sentence for a kernel the memory limit killed. */
  get outOfMemoryReason(): string {
    return (
      `the kernel ran out of memory (limit ${formatMebibytes(this.security.memoryBytes)}, ` +
      `execution_service.docker.memory) and was killed`
    );
  }

  /** The container's name, `taskweaver-<session>-<random>`. */
  get name(): string {
    return this.currentName;
  }

  /**
   * Names the container after the session that took it (a container started ahead by the warm
   * pool is named after the pool), so `docker ps` shows whose it is. The random part stays.
   */
  async renameForSession(sessionId: string): Promise<void> {
    const suffix = this.currentName.slice(this.currentName.lastIndexOf("-") + 1);
    const name = `taskweaver-${sanitizeName(sessionId)}-${suffix}`;
    if (name === this.currentName) return;
    await this.client.renameContainer(this.id, name);
    this.currentName = name;
  }

  /** The exit, once the container has stopped. */
  get exit(): ContainerExit | undefined {
    return this.exitInfo;
  }

  /**
   * Creates and starts the container and resolves once the kernel's sockets exist. Throws
   * `ExecutorUnavailableError` when Docker or the image is missing and `KernelDiedError` when the
   * kernel exits during start-up (with its last log lines).
   */
  static async start(options: StartKernelContainerOptions): Promise<KernelContainer> {
    const { client, security } = options;
    await checkDockerReady(client, security.image);
    const access = resolveContainerUser(security.user);

    const suffix = randomBytes(4).toString("hex");
    const name = `taskweaver-${sanitizeName(options.sessionId)}-${suffix}`;
    // Short on purpose: the socket paths below must stay under the 107-byte unix limit.
    const ipcDirectory = join(security.ipcDirectory, suffix);
    try {
      if (!existsSync(options.workingDirectory)) mkdirSync(options.workingDirectory, { recursive: true });
      createSharedParent(security.ipcDirectory);
      mkdirSync(ipcDirectory, { mode: 0o700 });
      shareDirectoryWithContainer(ipcDirectory, access.user, access.share);
      shareDirectoryWithContainer(options.workingDirectory, access.user, access.share);
    } catch (error) {
      throw new ExecutorUnavailableError(
        `Could not prepare the directories shared with the kernel container (${(error as Error).message}). ` +
          `Check the permissions of ${security.ipcDirectory} (execution_service.docker.ipc_dir) and of ` +
          `${options.workingDirectory}.`,
        { cause: error },
      );
    }

    const { host: connection, container: containerConnection } = createIpcConnection(ipcDirectory, "kernel");
    if (Buffer.byteLength(channelAddress(connection, "control")) - "ipc://".length > 100) {
      rmSync(ipcDirectory, { recursive: true, force: true });
      throw new ExecutorUnavailableError(
        `The ipc directory ${security.ipcDirectory} is too long for unix socket paths; set ` +
          `execution_service.docker.ipc_dir to a short path such as /tmp/taskweaver-ipc.`,
      );
    }
    writeFileSync(join(ipcDirectory, "kernel.json"), JSON.stringify(containerConnection), { mode: 0o644 });

    const spec = buildContainerSpec({
      security: { ...security, user: access.user },
      workingDirectory: options.workingDirectory,
      ipcDirectory,
      sessionId: options.sessionId,
      umask: access.umask,
      environment: options.environment,
      mode: options.mode,
    });
    let id: string;
    try {
      id = await client.createContainer(spec, name);
    } catch (error) {
      rmSync(ipcDirectory, { recursive: true, force: true });
      if (DockerApiError.isInstance(error)) {
        throw new ExecutorUnavailableError(`Docker could not create the kernel container: ${error.message}`, {
          cause: error,
        });
      }
      throw error;
    }
    registerContainerForExitCleanup(id, client.endpoint, ipcDirectory);
    const mode = options.mode ?? { kind: "kernel" };
    const container = new KernelContainer({ id, name, connection, ipcDirectory, client, security, mode });
    try {
      await client.startContainer(id);
      if (mode.kind === "template") await container.waitForTemplate(options.signal);
      else await container.waitForSockets(options.signal);
    } catch (error) {
      await container.remove();
      if (DockerApiError.isInstance(error)) {
        throw new ExecutorUnavailableError(`Docker could not start the kernel container: ${error.message}`, {
          cause: error,
        });
      }
      throw error;
    }
    return container;
  }

  /** Polls for the five channel sockets; fails fast if the container exits first. */
  private async waitForSockets(signal: AbortSignal | undefined): Promise<void> {
    const channels: KernelChannel[] = ["shell", "iopub", "stdin", "control", "hb"];
    const paths = channels.map((channel) => channelAddress(this.connection, channel).slice("ipc://".length));
    await this.pollUntil(signal, async () => paths.every((path) => existsSync(path)));
  }

  /**
   * Polls for the template's socket, then reads its ready line from the container's output
   * (printed right after it listens). Fails fast, with the output, if the container exits first:
   * a template whose imports failed.
   */
  private async waitForTemplate(signal: AbortSignal | undefined): Promise<void> {
    await this.pollUntil(signal, async () => {
      if (!existsSync(this.templateSocket)) return false;
      this.templateReady = parseForkTemplateReady(await this.client.containerLogs(this.id, 500));
      return this.templateReady !== undefined;
    });
  }

  private async pollUntil(signal: AbortSignal | undefined, done: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + this.security.startTimeoutSeconds * 1000;
    for (;;) {
      if (signal?.aborted) throw new AbortedError("Starting the kernel container was cancelled.");
      if (this.exitInfo) {
        const logs = await this.client.containerLogs(this.id, 30).catch(() => "");
        throw new KernelDiedError(
          `The kernel container exited during start-up: ${this.exitInfo.reason}.` +
            (logs.trim() ? `\nLast output of the container:\n${logs.trim()}` : "") +
            `\nCheck that the image "${this.security.image}" has Python with ipykernel (command "${this.security.python}").`,
        );
      }
      if (await done()) return;
      if (Date.now() > deadline) {
        throw new ExecutorUnavailableError(
          `The kernel in container ${this.name} did not start within ${this.security.startTimeoutSeconds}s ` +
            `(execution_service.docker.start_timeout).`,
        );
      }
      await delay(25);
    }
  }

  private async watchExit(): Promise<ContainerExit> {
    let exitCode = -1;
    let engineLost: string | undefined;
    try {
      exitCode = await this.client.waitContainer(this.id, this.stopWaiting.signal);
    } catch (error) {
      // Aborted: we are removing the container. Anything else: the engine went away.
      if (!this.stopWaiting.signal.aborted) engineLost = error instanceof Error ? error.message : String(error);
    }
    let oomKilled = false;
    try {
      const inspection = await this.client.inspectContainer(this.id);
      if (inspection) {
        oomKilled = inspection.State.OOMKilled;
        if (exitCode === -1 && !inspection.State.Running) exitCode = inspection.State.ExitCode;
      }
    } catch {
      // Inspection is best effort: the container may be gone already.
    }
    // tini reports a child killed by SIGKILL as 137; with the cgroup at its limit that is the OOM killer.
    const reason = oomKilled
      ? this.outOfMemoryReason
      : this.removed
        ? "the container was stopped"
        : engineLost !== undefined && exitCode === -1
          ? `the connection to the Docker engine was lost (${engineLost})`
          : this.mode.kind === "template"
            ? `the kernel template process exited with code ${exitCode}, and its kernels with it`
            : `the kernel process exited with code ${exitCode}`;
    this.exitInfo = { exitCode, oomKilled, reason };
    return this.exitInfo;
  }

  /**
   * Sends SIGINT to the kernel (through tini), like Ctrl-C. Only for a container whose main
   * process is the kernel: a template ignores SIGINT, and its kernels are interrupted through it.
   */
  async interrupt(): Promise<void> {
    if (this.exitInfo || this.removed) return;
    await this.client.killContainer(this.id, "SIGINT");
  }

  /** Memory of the container as the engine accounts it. */
  memory(): Promise<ContainerMemory> {
    return this.client.containerMemory(this.id);
  }

  /** Kills and removes the container and its ipc directory; idempotent. */
  async remove(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    try {
      await this.client.removeContainer(this.id);
    } finally {
      this.stopWaiting.abort();
      unregisterContainerForExitCleanup(this.id);
      rmSync(this.ipcDirectory, { recursive: true, force: true });
    }
  }
}
