import { chown } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
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
import { DEFAULT_PRELOAD_MODULES } from "../internal/fork-protocol.js";
import type { SupportInstallOptions } from "../internal/support-code.js";
import { pythonFilePath } from "../python-files.js";
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
import { TemplateContainer } from "./template-container.js";
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
  /**
   * How a container runs its kernel: "spawn", ipykernel as the container's main process (one
   * container per kernel); "fork", the fork template (`taskweaver_fork_server.py`, mounted
   * read-only from the package) as the main process, which has `preloadModules` imported and
   * forks the kernel, and, for a session that keeps its container, the kernels after a restart.
   * A template that cannot start is given up for "spawn", said once. @default "spawn"
   */
  kernelStart?: "spawn" | "fork";
  /** Modules a template imports ahead (`execution_service.preload_modules`). @default DEFAULT_PRELOAD_MODULES */
  preloadModules?: readonly string[];
  /**
   * The support code's options, the same the executors install; forked kernels then install it
   * themselves before their first request and the executor's bootstrap execute is skipped.
   * @default none (the executor bootstraps)
   */
  supportOptions?: Omit<SupportInstallOptions, "workdir">;
  /** Told once when forking is given up for spawning. @default a line on stderr */
  onWarning?: (message: string) => void;
  /**
   * Host folder with `taskweaver_fork_server.py` and `taskweaver_support.py`, mounted read-only
   * into template containers. @default the package's `python/` folder
   */
  pythonDirectory?: string;
}

/** The package's `python/` folder, mounted read-only into template containers. */
const PYTHON_DIRECTORY = dirname(pythonFilePath("taskweaver_fork_server.py"));

/** A Docker launcher, and the template containers its forked kernels run in. */
export interface DockerKernelLauncher extends KernelLauncher {
  /** The template container a kernel of this launcher was forked in, if it was (kernel_start "fork"). */
  templateOf(kernel: KernelConnection): TemplateContainer | undefined;
  /** True once forking was given up for spawning. */
  readonly fellBack: boolean;
}

/**
 * Starts each kernel in a fresh container (see `KernelContainer` for the safety defaults) and
 * connects to it over ZeroMQ ipc sockets in a bind-mounted directory. With `kernelStart` "fork"
 * the container's main process is a fork template and the kernel is forked from it.
 */
export function createDockerKernelLauncher(options: DockerKernelLauncherOptions): DockerKernelLauncher {
  let client: DockerEngineClient | undefined;
  const getClient = () =>
    (client ??= typeof options.client === "function" ? options.client() : (options.client ?? createDockerEngineClient()));
  // By the kernel's client, which a warm pool hands on unchanged.
  const templates = new WeakMap<object, TemplateContainer>();
  let fellBack = false;
  const warn = options.onWarning ?? ((message: string) => process.stderr.write(`taskweaver: ${message}\n`));
  const giveUp = (reason: string) => {
    if (fellBack) return;
    fellBack = true;
    warn(`kernel containers run ipykernel directly instead of forking kernels from a template: ${reason}`);
  };

  /** Moves a pooled container's folder to the session that takes its kernel. */
  const relocator = (state: { poolFolder: string | undefined; pristine: boolean }, container: KernelContainer, details: Record<string, string>) =>
    async function relocate(target: LaunchOptions) {
      const folder = state.poolFolder;
      if (folder === undefined || target.hostWorkingDirectory === undefined) {
        throw new TaskWeaverError(
          "invalid_argument",
          "A pooled Docker kernel can only move to a session with a host working directory.",
        );
      }
      state.pristine = false;
      await moveFolder(folder, resolve(target.hostWorkingDirectory));
      // The folder is the session's now: stopping the kernel must leave it.
      state.poolFolder = undefined;
      if (target.sessionId !== undefined) {
        // Only a name for operators (`docker ps`): the session neither waits for it nor
        // fails by it; the executor's info shows the new name once it is there.
        void container.renameForSession(target.sessionId).then(
          () => (details.containerName = container.name),
          () => undefined,
        );
      }
    };

  /** A kernel forked in a new template container; undefined when forking was given up. */
  async function launchForked(
    engine: DockerEngineClient,
    workingDirectory: string,
    sessionId: string,
    state: { poolFolder: string | undefined; pristine: boolean },
    discardPoolFolder: () => Promise<void>,
    signal: AbortSignal | undefined,
  ): Promise<KernelConnection | undefined> {
    let container: KernelContainer;
    try {
      container = await KernelContainer.start({
        client: engine,
        security: options.security,
        workingDirectory,
        sessionId,
        signal,
        environment: options.environment,
        mode: {
          kind: "template",
          preloadModules: options.preloadModules ?? DEFAULT_PRELOAD_MODULES,
          pythonDirectory: options.pythonDirectory ?? PYTHON_DIRECTORY,
        },
      });
    } catch (error) {
      // Exited while starting: its imports failed (or the image has no such Python); a direct
      // ipykernel start then says what is missing, if anything is.
      if (KernelDiedError.isInstance(error) && !signal?.aborted) {
        giveUp(error.message);
        return undefined;
      }
      throw error;
    }
    const threads = container.template?.threads;
    if (threads !== 1) {
      await container.remove();
      giveUp(`the kernel template runs ${threads} threads after its imports; forking it would not be safe`);
      return undefined;
    }
    options.onContainer?.(container);
    const template = new TemplateContainer(container, options.security, options.supportOptions, discardPoolFolder);
    // A template that ends while no kernel runs in it goes too.
    void container.exited.then(() => template.remove().catch(() => undefined));
    let kernel: KernelConnection;
    try {
      kernel = await template.launchKernel({ signal });
    } catch (error) {
      await template.remove().catch(() => undefined);
      if (KernelDiedError.isInstance(error)) throw new ExecutorUnavailableError(error.message, { cause: error });
      throw error;
    }
    templates.set(kernel.client, template);
    return state.poolFolder === undefined
      ? kernel
      : { ...kernel, relocate: relocator(state, container, kernel.details as Record<string, string>) };
  }

  return {
    templateOf(kernel) {
      return templates.get(kernel.client);
    },
    get fellBack() {
      return fellBack;
    },
    async launch({ hostWorkingDirectory, signal, sessionId: launchSessionId }): Promise<KernelConnection> {
      const sessionId = launchSessionId ?? options.sessionId ?? "session";
      const engine = getClient();
      const mounted = hostWorkingDirectory ?? options.hostWorkingDirectory;
      // A kernel started ahead gets a folder of its own until a session takes it.
      const state: { poolFolder: string | undefined; pristine: boolean } = { poolFolder: undefined, pristine: true };
      if (mounted === undefined) {
        if (options.poolDirectory === undefined) {
          throw new TaskWeaverError(
            "invalid_argument",
            "A Docker kernel launch needs a host working directory (or the launcher's poolDirectory).",
          );
        }
        state.poolFolder = await createPoolFolder(options.poolDirectory);
      }
      const discardPoolFolder = () => {
        const folder = state.poolFolder;
        state.poolFolder = undefined;
        return folder === undefined ? Promise.resolve() : discardFolder(folder, state.pristine);
      };
      if (options.kernelStart === "fork" && !fellBack) {
        let forked: KernelConnection | undefined;
        try {
          forked = await launchForked(engine, mounted ?? state.poolFolder!, sessionId, state, discardPoolFolder, signal);
        } catch (error) {
          await discardPoolFolder();
          throw error;
        }
        if (forked) return forked;
      }
      let container: KernelContainer;
      try {
        container = await KernelContainer.start({
          client: engine,
          security: options.security,
          workingDirectory: mounted ?? state.poolFolder!,
          sessionId,
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
        ...(state.poolFolder === undefined ? {} : { relocate: relocator(state, container, details) }),
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
  /**
   * Where the session's kernels come from when it keeps its container (kernel_start "fork"): the
   * Docker launcher under `launcher` (a warm pool's). @default `launcher` when it is a Docker launcher
   */
  templates?: Pick<DockerKernelLauncher, "templateOf">;
  /** How the executor's own launcher starts kernels (see `DockerKernelLauncherOptions.kernelStart`). @default "spawn" */
  kernelStart?: "spawn" | "fork";
  /** Modules a fork template imports ahead. @default DEFAULT_PRELOAD_MODULES */
  preloadModules?: readonly string[];
  /** Told once when forking is given up for spawning. @default a line on stderr */
  onWarning?: (message: string) => void;
}

/**
 * A session's launcher that keeps the template container its kernel was forked in: the next
 * kernel (a restart, a timeout's restart, the one after a death) is forked there, in
 * milliseconds and under the same limits, mounts and network; only when the template is gone
 * does a launch go to the runtime's launcher (a new container, or the warm pool's).
 */
function createSessionContainerLauncher(
  launcher: KernelLauncher,
  templates: Pick<DockerKernelLauncher, "templateOf"> | undefined,
): KernelLauncher & { release(): Promise<void> } {
  let held: TemplateContainer | undefined;
  let released = false;
  const release = () => {
    released = true;
    const template = held;
    held = undefined;
    return template?.remove() ?? Promise.resolve();
  };
  return {
    async launch(launchOptions) {
      const template = held;
      if (template?.alive) {
        try {
          return await template.launchKernel({ signal: launchOptions.signal });
        } catch (error) {
          // Only a template that went away meanwhile is replaced; any other failure is the launch's.
          if (template.alive || launchOptions.signal?.aborted) throw error;
        }
      }
      held = undefined;
      if (template) await template.remove().catch(() => undefined);
      const kernel = await launcher.launch(launchOptions);
      const next = templates?.templateOf(kernel);
      if (next) {
        next.adopt();
        held = next;
        // Stopped while this kernel was starting: nothing would remove the container later.
        if (released) await release();
      }
      return kernel;
    },
    release,
  };
}

/** A `CodeExecutor` running the IPython kernel in a locked-down Docker container. */
export function createDockerExecutor(options: DockerExecutorOptions): CodeExecutor {
  const workingDirectory = resolve(options.workingDirectory);
  const security = defaultContainerOptions(options.security);
  const client = options.client ?? (() => createDockerEngineClient({ host: options.dockerHost }));
  const shared = options.launcher;
  const own = shared
    ? undefined
    : createDockerKernelLauncher({
        client,
        security,
        hostWorkingDirectory: workingDirectory,
        sessionId: options.sessionId,
        environment: options.environment,
        onContainer: options.onContainer,
        kernelStart: options.kernelStart,
        preloadModules: options.preloadModules,
        supportOptions: { max_output_chars: options.maxOutputChars ?? DEFAULT_MAX_OUTPUT_CHARS },
        onWarning: options.onWarning,
      });
  const templates = options.templates ?? own ?? (isDockerLauncher(shared) ? shared : undefined);
  const session = createSessionContainerLauncher(
    shared
      ? // The session's id names the container the pool hands out.
        { launch: (launchOptions) => shared.launch({ ...launchOptions, sessionId: options.sessionId }) }
      : own!,
    templates,
  );
  const executor = createKernelExecutor({
    launcher: session,
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
  // The session's container outlives its kernels (see createSessionContainerLauncher): it goes
  // with the executor, even when no kernel is running at its stop (one died, or failed to set up).
  const stopExecutor = executor.stop.bind(executor);
  return Object.assign(executor, {
    async stop() {
      try {
        await stopExecutor();
      } finally {
        await session.release();
      }
    },
  });
}

/** The executor's default for `maxOutputChars` (the support code gets the same). */
const DEFAULT_MAX_OUTPUT_CHARS = 100_000;

function isDockerLauncher(launcher: KernelLauncher | undefined): launcher is DockerKernelLauncher {
  return typeof (launcher as Partial<DockerKernelLauncher> | undefined)?.templateOf === "function";
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
 * How the container runtime starts kernels for `execution_service.kernel_start`: "fork" and
 * "spawn" as named; "auto" forks when the warm pool is on and spawns otherwise. `pnpm bench
 * docker` measures both (see the README): a cold container reaches its first result sooner
 * without the template's imports, while a pooled one has them done already (first pandas
 * result 15 ms against 356 ms) and restarts by forking in the same container (58 ms against a
 * new container's 800).
 */
export function dockerKernelStart(config: Pick<AppConfig, "get">): "spawn" | "fork" {
  const configured = config.get("execution_service.kernel_start");
  if (configured !== "auto") return configured;
  return config.get("execution_service.warm_pool_size") > 0 ? "fork" : "spawn";
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
  const kernelStart = dockerKernelStart(config);
  // One launcher for every session: a template that cannot start is given up once, not per session.
  const launcher = createDockerKernelLauncher({
    client: getClient,
    security,
    poolDirectory: poolSize > 0 ? dockerPoolDirectory(config) : undefined,
    sessionId: poolSize > 0 ? "warm-pool" : undefined,
    kernelStart,
    preloadModules: config.get("execution_service.preload_modules"),
    // The same options the executor would install: forked kernels install the support code themselves.
    supportOptions: { max_output_chars: maxOutputChars },
  });
  let warmPool: WarmPool | undefined;
  if (poolSize > 0) {
    const poolDirectory = dockerPoolDirectory(config);
    warmPool = createWarmPool({
      launcher,
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
      launcher: warmPool ?? launcher,
      templates: launcher,
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
