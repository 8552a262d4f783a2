import { posix } from "node:path";
import {
  KernelDiedError,
  type AppConfig,
  type CodeExecutor,
  type ExecutorFactory,
  type IdGenerator,
} from "@taskweaver/core";
import { createKernelExecutor, type KernelLauncher } from "../kernel-executor.js";
import type { KernelClient } from "../internal/protocol/kernel-client.js";
import type { WorkingDirectoryFiles } from "../internal/working-directory.js";
import { createJupyterRestClient, type JupyterRestClient } from "./jupyter-rest-client.js";
import { createContentsApiFiles, createKernelFiles } from "./remote-files.js";
import { createRemoteKernelLauncher } from "./remote-kernel.js";
import { normalizeServerDirectory, resolveRemoteSettings } from "./remote-settings.js";
import { createWarmPool, type WarmPool } from "../warm-pool.js";
import { DEFAULT_MAX_WORKDIR_BYTES } from "../internal/workdir-limit.js";

/** Options of {@link createRemoteExecutor}. */
export interface RemoteExecutorOptions {
  /** Base URL of the Jupyter Server, Kernel Gateway or Enterprise Gateway, e.g. `http://127.0.0.1:8888/`. */
  url: string | URL;
  /** Sent as `Authorization: token ...`. @default none */
  token?: string;
  /** Kernel spec to start. @default "python3" */
  kernelName?: string;
  /**
   * Working directory on the server, relative to its root; created when missing.
   * @default `taskweaver/<sessionId>`
   */
  workingDirectory?: string;
  /** Names the default working directory. @default "default" */
  sessionId?: string;
  /**
   * How files are uploaded, downloaded and listed: through the Contents API (Jupyter Server),
   * through the kernel (gateways), or whichever the server supports.
   * @default "auto"
   */
  files?: "auto" | "contents" | "kernel";
  /** @default 300000 */
  executionTimeoutMs?: number;
  /** Characters of stdout+stderr kept per execution. @default 100000 */
  maxOutputChars?: number;
  /** How long an interrupted execution may take to stop before the kernel is replaced. @default 5000 */
  interruptGraceMs?: number;
  /**
   * Bytes the working directory may hold; an execution writing past it is stopped, watched by
   * the kernel itself (`execution_service.max_workdir_bytes`). @default 2147483648 (2 GiB)
   */
  maxWorkdirBytes?: number;
  /** Wait for the kernel after `POST /api/kernels`. @default 60000 */
  startTimeoutMs?: number;
  /**
   * Answer kernel messages with immediate WebSocket pongs so the server's Nagle-delayed writes
   * go out at once (see `KernelWebSocketOptions.promptAcknowledge`). Turn off only to measure.
   * @default true
   */
  promptAcknowledge?: boolean;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** @default core's createId */
  createId?: IdGenerator;
  /**
   * Starts the kernels instead of a new remote launcher (the factory's warm pool): each launch
   * asks for `workingDirectory`, and a kernel started elsewhere moves there (`relocate`).
   */
  launcher?: KernelLauncher;
  /** Attach to this kernel on the server instead of starting one (see `RemoteKernelLauncherOptions.attachKernelId`). @default none */
  kernelId?: string;
  /** `stop()` leaves the kernel running for a later `kernelId` attach. @default false */
  keepKernelOnStop?: boolean;
  /** Told the id of every kernel started or attached. @default none */
  onKernelStarted?: (kernel: { kernelId: string; attached: boolean }) => void;
  /** Environment of the kernel start (`KERNEL_USERNAME`, `KERNEL_NAMESPACE`). @default none */
  kernelEnv?: Record<string, string>;
}

/** How the Contents API question is answered: told by the caller, else asked once (again after a failure). */
function contentsApiProbe(
  rest: JupyterRestClient,
  files: RemoteExecutorOptions["files"],
): () => Promise<boolean> {
  let probe: Promise<boolean> | undefined;
  return () => {
    if (files === "contents") return Promise.resolve(true);
    if (files === "kernel") return Promise.resolve(false);
    probe ??= rest.hasContentsApi();
    // An unreachable server is retried on the next call.
    probe.catch(() => (probe = undefined));
    return probe;
  };
}

/**
 * Wraps a launcher to know the client of the kernel in use (file access through the kernel
 * needs it) and to ask every launch for `workingDirectory` on the server.
 */
function trackCurrentKernel(
  launcher: KernelLauncher,
  workingDirectory: string,
): KernelLauncher & { readonly currentClient: KernelClient | undefined } {
  let current: KernelClient | undefined;
  return {
    get currentClient() {
      return current;
    },
    async launch(launchOptions) {
      const kernel = await launcher.launch({ ...launchOptions, workingDirectory });
      const client = kernel.client;
      current = client;
      const forget = () => {
        if (current === client) current = undefined;
      };
      return {
        ...kernel,
        onDeath: (listener) =>
          kernel.onDeath((reason) => {
            forget();
            listener(reason);
          }),
        stop: (stopOptions) => {
          forget();
          return kernel.stop(stopOptions);
        },
      };
    },
  };
}

/**
 * A `CodeExecutor` whose kernel runs on a Jupyter server or gateway, reached over REST and the
 * kernel's WebSocket. Execution, timeouts, interrupts, output limits, artifacts and result
 * assembly are the shared kernel executor's, so it behaves like the local runtime; files live
 * on the server (`workingDirectory` is undefined: the host cannot see them).
 */
export function createRemoteExecutor(options: RemoteExecutorOptions): CodeExecutor {
  const baseUrl = new URL(String(options.url));
  baseUrl.search = "";
  baseUrl.hash = "";
  if (!baseUrl.pathname.endsWith("/")) baseUrl.pathname = `${baseUrl.pathname}/`;
  const workingDirectory = normalizeServerDirectory(
    options.workingDirectory ?? `taskweaver/${options.sessionId ?? "default"}`,
  );
  const kernelName = options.kernelName ?? "python3";
  const rest = createJupyterRestClient({ baseUrl, token: options.token, fetch: options.fetch });
  const hasContentsApi = contentsApiProbe(rest, options.files);

  const kernelClient = async (): Promise<KernelClient> => {
    if (launcher.currentClient) return launcher.currentClient;
    // `executor` is defined below; this runs only after construction.
    await executor.start();
    const client = launcher.currentClient;
    if (client === undefined) {
      // start() resolved yet no kernel: it died right away; the next call starts another.
      throw new KernelDiedError("The remote kernel went away before the file operation could run.");
    }
    return client;
  };
  const kernelFiles = createKernelFiles({ client: kernelClient });
  // Transfers go through the Contents API (binary-safe, no iopub rate limit); where a path
  // really leads is only known inside the kernel, which also lists without following links.
  const contentsFiles = createContentsApiFiles({
    rest,
    workingDirectory,
    confine: (name, original) => kernelFiles.confine(name, original),
    list: () => kernelFiles.list(),
  });
  const launcher = trackCurrentKernel(
    options.launcher ??
      createRemoteKernelLauncher({
        rest,
        token: options.token,
        kernelName,
        workingDirectory,
        hasContentsApi,
        ensureWorkingDirectory: () => contentsFiles.ensureWorkingDirectory(),
        startTimeoutMs: options.startTimeoutMs,
        promptAcknowledge: options.promptAcknowledge,
        attachKernelId: options.kernelId,
        keepKernelOnStop: options.keepKernelOnStop,
        onKernelStarted: options.onKernelStarted,
        env: options.kernelEnv,
      }),
    workingDirectory,
  );

  const pick = async (): Promise<WorkingDirectoryFiles> =>
    (await hasContentsApi()) ? contentsFiles : kernelFiles;
  const files: WorkingDirectoryFiles = {
    upload: async (name, data) => (await pick()).upload(name, data),
    download: async (name) => (await pick()).download(name),
    list: async () => (await pick()).list(),
  };

  const executor = createKernelExecutor({
    launcher,
    // "" makes the support code use the kernel's current directory, which the launcher has
    // already made the working directory (its absolute path is only known inside the kernel).
    kernelWorkingDirectory: "",
    hostWorkingDirectory: undefined,
    files,
    info: { kind: "remote", details: { url: baseUrl.href, kernelName, workingDirectory } },
    executionTimeoutMs: options.executionTimeoutMs,
    maxOutputChars: options.maxOutputChars,
    interruptGraceMs: options.interruptGraceMs,
    maxWorkdirBytes: options.maxWorkdirBytes ?? DEFAULT_MAX_WORKDIR_BYTES,
    createId: options.createId,
  });
  return executor;
}

/** Options of {@link createRemoteExecutorFactory}. */
export interface RemoteExecutorFactoryOptions {
  /** Where `JUPYTER_TOKEN` is read from. @default process.env */
  env?: Record<string, string | undefined>;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /**
   * Kernels that outlive their executor (the HTTP API's sessions across instances and restarts):
   * a graceful stop leaves the kernel running, `attachTo` names a kernel to attach to instead of
   * starting one, `onKernelStarted` hears of every kernel. The warm pool is not used then (its
   * kernels are deleted when their executor stops). @default none
   */
  persistentKernels?: {
    attachTo(sessionId: string): string | undefined;
    onKernelStarted(sessionId: string, kernel: { kernelId: string; attached: boolean }): void;
  };
}

/**
 * The remote runtime's factory: a plain `ExecutorFactory` plus `dispose()` (deletes the warm
 * pool's kernels), the pool itself when `execution_service.warm_pool_size` > 0, and the few
 * kernel operations a caller keeping kernels across processes needs.
 */
export type RemoteExecutorFactory = ExecutorFactory & {
  dispose(): Promise<void>;
  readonly warmPool: WarmPool | undefined;
  /** The server's base URL (`execution_service.remote.url`, ending with `/`). */
  readonly serverUrl: string;
  /** True when the server still runs the kernel. */
  kernelExists(kernelId: string): Promise<boolean>;
  interruptKernel(kernelId: string): Promise<void>;
  deleteKernel(kernelId: string): Promise<void>;
};

/**
 * Where pooled kernels wait on the server: `_warm_pool` beside the sessions' folders (for the
 * default `taskweaver/<session>`, `taskweaver/_warm_pool`). Not a dot-folder: Jupyter Server's
 * Contents API refuses to create hidden folders.
 */
export function remotePoolDirectory(sessionDirectory: (sessionId: string) => string): string {
  const parent = posix.dirname(sessionDirectory("warm-pool"));
  return normalizeServerDirectory(posix.join(parent, "_warm_pool"));
}

/**
 * The remote runtime's factory for one app (`execution_service.kernel_mode: remote`). The
 * configuration is checked here, so a missing or malformed URL fails when the app starts. With
 * `execution_service.warm_pool_size` > 0, that many kernels are started at once in the pool's
 * folder on the server; a session that takes one moves it into its own folder.
 */
export function createRemoteExecutorFactory(
  config: AppConfig,
  options: RemoteExecutorFactoryOptions = {},
): RemoteExecutorFactory {
  const env = options.env ?? process.env;
  const checked = resolveRemoteSettings(config, "check", env);
  const poolSize = options.persistentKernels ? 0 : config.get("execution_service.warm_pool_size");
  const rest = createJupyterRestClient({
    baseUrl: checked.baseUrl,
    token: checked.token,
    fetch: options.fetch,
  });
  let warmPool: WarmPool | undefined;
  if (poolSize > 0) {
    const poolDirectory = remotePoolDirectory(
      (id) => resolveRemoteSettings(config, id, env).workingDirectory,
    );
    const poolFolder = createContentsApiFiles({ rest, workingDirectory: poolDirectory });
    warmPool = createWarmPool({
      launcher: createRemoteKernelLauncher({
        rest,
        token: checked.token,
        kernelName: checked.kernelName,
        workingDirectory: poolDirectory,
        hasContentsApi: contentsApiProbe(rest, "auto"),
        ensureWorkingDirectory: () => poolFolder.ensureWorkingDirectory(),
        startTimeoutMs: checked.startTimeoutMs,
        env: checked.kernelEnv,
      }),
      size: poolSize,
      idleTimeoutMs: config.get("execution_service.warm_pool_idle_timeout") * 1000,
      // "": the support code stays where the launcher put the kernel (see createRemoteExecutor).
      poolDirectory: "",
      // The same options the executor would install (a taken kernel is only bound).
      supportOptions: { max_output_chars: checked.maxOutputChars },
    });
    warmPool.fill();
  }
  const persistent = options.persistentKernels;
  const factory: ExecutorFactory = (request) => {
    const settings = resolveRemoteSettings(config, request.sessionId, env);
    const kernelId = persistent?.attachTo(request.sessionId);
    return createRemoteExecutor({
      ...(persistent
        ? {
            keepKernelOnStop: true,
            onKernelStarted: (kernel) => persistent.onKernelStarted(request.sessionId, kernel),
            ...(kernelId ? { kernelId } : {}),
          }
        : {}),
      url: settings.baseUrl,
      token: settings.token,
      kernelName: settings.kernelName,
      workingDirectory: settings.workingDirectory,
      sessionId: request.sessionId,
      executionTimeoutMs: settings.executionTimeoutMs,
      maxOutputChars: settings.maxOutputChars,
      maxWorkdirBytes: config.get("execution_service.max_workdir_bytes"),
      startTimeoutMs: settings.startTimeoutMs,
      kernelEnv: settings.kernelEnv,
      fetch: options.fetch,
      launcher: warmPool,
    });
  };
  return Object.assign(factory, {
    dispose: () => warmPool?.dispose() ?? Promise.resolve(),
    warmPool,
    serverUrl: checked.baseUrl.href,
    kernelExists: async (kernelId: string) => (await rest.getKernel(kernelId)) !== undefined,
    interruptKernel: (kernelId: string) => rest.interruptKernel(kernelId),
    deleteKernel: (kernelId: string) => rest.deleteKernel(kernelId),
  });
}
