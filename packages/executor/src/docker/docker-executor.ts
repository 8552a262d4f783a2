import { chown } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  ExecutorUnavailableError,
  KernelDiedError,
  TaskWeaverError,
  type AppConfig,
  type CodeExecutor,
  type ExecutorFactory,
  type IdGenerator,
} from "@taskweaver/core";
import {
  createKernelExecutor,
  type KernelConnection,
  type KernelLauncher,
  type LaunchOptions,
} from "../kernel-executor.js";
import { createKernelClient } from "../internal/protocol/kernel-client.js";
import { createZmqTransport } from "../internal/protocol/zmq-transport.js";
import { createWarmPool, type WarmPool } from "../warm-pool.js";
import { createWorkingDirectoryFiles, type WorkingDirectoryFiles } from "../internal/working-directory.js";
import {
  containerOptionsFromConfig,
  defaultContainerOptions,
  parseNumericUser,
  type ContainerSecurityOptions,
} from "./container-options.js";
import { createDockerEngineClient, type DockerEngineClient } from "./engine-client.js";
import { KernelContainer } from "./kernel-container.js";
import { DEFAULT_MAX_WORKDIR_BYTES } from "../internal/workdir-limit.js";
import {
  createPoolFolder,
  discardPoolFolder as discardFolder,
  moveFolder,
  removeStalePoolFolders,
} from "./pool-folders.js";

/** Options of `createDockerKernelLauncher`. */
export interface DockerKernelLauncherOptions {
  /** Engine client; created from `dockerHost` / `DOCKER_HOST` on first use when absent. */
  client?: DockerEngineClient | (() => DockerEngineClient);
  security: ContainerSecurityOptions;
  /**
   * Host directory bind-mounted as the kernel's working directory; a launch's own
   * `hostWorkingDirectory` takes precedence.
   */
  hostWorkingDirectory?: string;
  /**
   * Where kernels started ahead get their folders: a launch without a host directory (the warm
   * pool's) mounts a fresh folder here, and `relocate` renames it to the session's folder when a
   * session takes the kernel. Must be on the same file system as the sessions' folders.
   */
  poolDirectory?: string;
  /** Labels the container, for `docker ps` and cleanup. @default "session" */
  sessionId?: string;
  /** Extra environment variables for the kernel. */
  environment?: Record<string, string>;
  /** Called with each started container (benchmarks and tests read its id and memory). */
  onContainer?: (container: KernelContainer) => void;
}

/**
 * Starts each kernel in a fresh container (see `KernelContainer` for the safety defaults) and
 * connects to it over ZeroMQ ipc sockets in a bind-mounted directory.
 */
export function createDockerKernelLauncher(options: DockerKernelLauncherOptions): KernelLauncher {
  let client: DockerEngineClient | undefined;
  const getClient = () =>
    (client ??= typeof options.client === "function" ? options.client() : (options.client ?? createDockerEngineClient()));

  return {
    async launch({ hostWorkingDirectory, signal }): Promise<KernelConnection> {
      const engine = getClient();
      const mounted = hostWorkingDirectory ?? options.hostWorkingDirectory;
      // A kernel started ahead gets a folder of its own until a session takes it.
      let poolFolder: string | undefined;
      let poolFolderPristine = true;
      if (mounted === undefined) {
        if (options.poolDirectory === undefined) {
          throw new TaskWeaverError(
            "invalid_argument",
            "A Docker kernel launch needs a host working directory (or the launcher's poolDirectory).",
          );
        }
        poolFolder = await createPoolFolder(options.poolDirectory);
      }
      const discardPoolFolder = () => {
        const folder = poolFolder;
        poolFolder = undefined;
        return folder === undefined ? Promise.resolve() : discardFolder(folder, poolFolderPristine);
      };
      let container: KernelContainer;
      try {
        container = await KernelContainer.start({
          client: engine,
          security: options.security,
          workingDirectory: mounted ?? poolFolder!,
          sessionId: options.sessionId ?? "session",
          signal,
          environment: options.environment,
        });
      } catch (error) {
        await discardPoolFolder();
        throw error;
      }
      options.onContainer?.(container);
      const transport = createZmqTransport(container.connection);
      const kernelClient = createKernelClient(transport);
      let stopping = false;
      let deathListener: ((reason: string) => void) | undefined;

      void container.exited.then((exit) => {
        kernelClient.fail(new KernelDiedError(`The Python kernel died: ${exit.reason}.`));
        if (stopping) return;
        deathListener?.(exit.reason);
        // The executor starts a new kernel and never stops this one: remove the dead container
        // now so a session whose kernels keep dying does not pile them up.
        kernelClient.close();
        void container.remove().catch(() => undefined);
        void discardPoolFolder();
      });

      try {
        await Promise.race([
          kernelClient.waitForReady({
            signal,
            timeoutMs: options.security.startTimeoutSeconds * 1000,
            timeoutSetting: "execution_service.docker.start_timeout",
          }),
          container.exited.then(async (exit) => {
            const logs = await engine.containerLogs(container.id, 30).catch(() => "");
            throw new ExecutorUnavailableError(
              `The kernel container stopped while starting: ${exit.reason}.${logs.trim() ? `\nIts output:\n${logs.trim()}` : ""}`,
            );
          }),
        ]);
      } catch (error) {
        stopping = true;
        kernelClient.close();
        await container.remove().catch(() => undefined);
        await discardPoolFolder();
        if (KernelDiedError.isInstance(error)) {
          throw new ExecutorUnavailableError(error.message, { cause: error });
        }
        throw error;
      }

      const details: Record<string, string> = {
        containerId: container.id.slice(0, 12),
        containerName: container.name,
        image: options.security.image,
        docker: engine.endpoint.description,
      };
      return {
        client: kernelClient,
        details,
        interrupt: () => container.interrupt(),
        onDeath(listener) {
          deathListener = listener;
        },
        async stop() {
          // A graceful shutdown_request buys nothing here: the container and its /tmp go anyway.
          stopping = true;
          kernelClient.close();
          try {
            await container.remove();
          } finally {
            await discardPoolFolder();
          }
        },
        ...(poolFolder === undefined
          ? {}
          : {
              async relocate(target: LaunchOptions) {
                const folder = poolFolder;
                if (folder === undefined || target.hostWorkingDirectory === undefined) {
                  throw new TaskWeaverError(
                    "invalid_argument",
                    "A pooled Docker kernel can only move to a session with a host working directory.",
                  );
                }
                poolFolderPristine = false;
                await moveFolder(folder, resolve(target.hostWorkingDirectory));
                // The folder is the session's now: stopping the kernel must leave it.
                poolFolder = undefined;
                if (target.sessionId !== undefined) {
                  // Only a name for operators (`docker ps`): the session neither waits for it nor
                  // fails by it; the executor's info shows the new name once it is there.
                  void container.renameForSession(target.sessionId).then(
                    () => (details.containerName = container.name),
                    () => undefined,
                  );
                }
              },
            }),
      };
    },
  };
}

/**
 * Files the host writes into the mounted working directory are handed to the container user
 * (when the host runs as root), so code in the kernel can also overwrite or delete them.
 */
function createSharedWorkingDirectoryFiles(root: string, user: string): WorkingDirectoryFiles {
  const files = createWorkingDirectoryFiles(root);
  const numeric = parseNumericUser(user);
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (!isRoot || !numeric) return files;
  return {
    ...files,
    async upload(name, data) {
      const info = await files.upload(name, data);
      // Folders created on the way belong to the container user too.
      const parts = info.name.split("/");
      for (let depth = 1; depth <= parts.length; depth += 1) {
        await chown(join(root, ...parts.slice(0, depth)), numeric.uid, numeric.gid).catch(() => undefined);
      }
      return info;
    },
  };
}

/** Options of `createDockerExecutor`. */
export interface DockerExecutorOptions {
  /** Host directory mounted as the kernel's working directory (created when missing). */
  workingDirectory: string;
  /** @default "session" */
  sessionId?: string;
  /** Container settings; unspecified ones take the safe defaults of `defaultContainerOptions`. */
  security?: Partial<ContainerSecurityOptions>;
  /** Engine address (`unix:///path` or `tcp://host:port`). @default DOCKER_HOST, else /var/run/docker.sock */
  dockerHost?: string;
  /** An engine client to share between executors. */
  client?: DockerEngineClient;
  /** @default 300000 */
  executionTimeoutMs?: number;
  /** @default 100000 */
  maxOutputChars?: number;
  /** @default 5000 */
  interruptGraceMs?: number;
  /**
   * Bytes the working directory may hold; an execution writing past it is stopped
   * (`execution_service.max_workdir_bytes`). @default 2147483648 (2 GiB)
   */
  maxWorkdirBytes?: number;
  /** Extra environment variables for the kernel, e.g. `PLUGIN_<name>_<var>` values. */
  environment?: Record<string, string>;
  /** Called with each started container. */
  onContainer?: (container: KernelContainer) => void;
  /** @default core's createId */
  createId?: IdGenerator;
  /**
   * Starts the kernels instead of a new Docker launcher (the factory's warm pool). When set,
   * `dockerHost`, `client`, `environment` and `onContainer` are not used for kernel starts.
   */
  launcher?: KernelLauncher;
}

/** A `CodeExecutor` running the IPython kernel in a locked-down Docker container. */
export function createDockerExecutor(options: DockerExecutorOptions): CodeExecutor {
  const workingDirectory = resolve(options.workingDirectory);
  const security = defaultContainerOptions(options.security);
  const client = options.client ?? (() => createDockerEngineClient({ host: options.dockerHost }));
  const shared = options.launcher;
  return createKernelExecutor({
    launcher: shared
      ? // The session's id names the container the pool hands out.
        { launch: (launchOptions) => shared.launch({ ...launchOptions, sessionId: options.sessionId }) }
      : createDockerKernelLauncher({
          client,
          security,
          hostWorkingDirectory: workingDirectory,
          sessionId: options.sessionId,
          environment: options.environment,
          onContainer: options.onContainer,
        }),
    kernelWorkingDirectory: security.containerWorkingDirectory,
    hostWorkingDirectory: workingDirectory,
    files: createSharedWorkingDirectoryFiles(workingDirectory, security.user),
    info: {
      kind: "container",
      details: { workingDirectory, image: security.image, network: security.networkMode },
    },
    executionTimeoutMs: options.executionTimeoutMs,
    maxOutputChars: options.maxOutputChars,
    interruptGraceMs: options.interruptGraceMs,
    maxWorkdirBytes: options.maxWorkdirBytes ?? DEFAULT_MAX_WORKDIR_BYTES,
    createId: options.createId,
  });
}

/**
 * The container runtime's factory: a plain `ExecutorFactory` plus `dispose()` (stops the warm
 * pool's containers) and the pool itself when `execution_service.warm_pool_size` > 0.
 */
export type DockerExecutorFactory = ExecutorFactory & {
  dispose(): Promise<void>;
  readonly warmPool: WarmPool | undefined;
};

/** Where pooled containers' folders live: beside the sessions' folders (see `pool-folders.ts`). */
export function dockerPoolDirectory(config: AppConfig): string {
  return join(config.get("workspace.workspace_path"), "sessions", ".warm-pool");
}

/**
 * The container runtime's factory for one app (`execution_service.kernel_mode = "container"`):
 * one engine client for every session, settings from `execution_service.docker.*`. With
 * `execution_service.warm_pool_size` > 0, that many containers are started at once, each with a
 * folder of its own, and a session that takes one gets that folder renamed to its own.
 */
export function createDockerExecutorFactory(config: AppConfig): DockerExecutorFactory {
  const security = containerOptionsFromConfig(config);
  const host = config.get("execution_service.docker.host");
  const maxOutputChars = config.get("execution_service.max_output_chars");
  let client: DockerEngineClient | undefined;
  const getClient = (): DockerEngineClient => {
    // A bad address surfaces when a session starts, as ExecutorUnavailableError, not at app start.
    try {
      return (client ??= createDockerEngineClient({ host }));
    } catch (error) {
      if (TaskWeaverError.isInstance(error)) throw error;
      throw new ExecutorUnavailableError(String(error), { cause: error });
    }
  };
  const poolSize = config.get("execution_service.warm_pool_size");
  let warmPool: WarmPool | undefined;
  if (poolSize > 0) {
    const poolDirectory = dockerPoolDirectory(config);
    warmPool = createWarmPool({
      launcher: createDockerKernelLauncher({ client: getClient, security, poolDirectory, sessionId: "warm-pool" }),
      size: poolSize,
      idleTimeoutMs: config.get("execution_service.warm_pool_idle_timeout") * 1000,
      poolDirectory: security.containerWorkingDirectory,
      // The same options the executor would install (a taken kernel is only bound).
      supportOptions: { max_output_chars: maxOutputChars },
    });
    // Folders of crashed hosts go; ours are named after this live process, so it can run alongside.
    void removeStalePoolFolders(poolDirectory);
    warmPool.fill();
  }
  const factory: ExecutorFactory = (request) => {
    const shared = getClient();
    return createDockerExecutor({
      workingDirectory: request.workingDirectory,
      sessionId: request.sessionId,
      security,
      client: shared,
      launcher: warmPool,
      executionTimeoutMs: config.get("execution_service.execution_timeout") * 1000,
      maxOutputChars,
      maxWorkdirBytes: config.get("execution_service.max_workdir_bytes"),
    });
  };
  return Object.assign(factory, {
    dispose: () => warmPool?.dispose() ?? Promise.resolve(),
    warmPool,
  });
}
