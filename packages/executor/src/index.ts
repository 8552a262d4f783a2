/**
 * `@taskweaver/executor`: the implementations of core's `CodeExecutor` contract. Each session's
 * code runs in an IPython kernel from one of three runtimes (kernel backends), chosen by
 * `execution_service.kernel_mode`: `local` (a kernel process on this machine), `container` (a
 * kernel in a locked-down Docker container, code in `docker/`) and `remote` (a kernel on a
 * Jupyter Server or Gateway). An app passes `createExecutorFactory` to `createTaskWeaver`; the
 * per-runtime factories and executors are for callers that pick one runtime themselves, and the
 * warm pool with the kernel launchers keeps kernels started ahead.
 *
 * The Jupyter wire layer, the protocol client and the helpers stay inside the package
 * (`src/internal/`); the few that tests and benchmarks need come from
 * `@taskweaver/executor/internal`, with no promise of stability. The conformance suite every
 * runtime passes is `@taskweaver/executor/conformance`.
 *
 * @publicApi
 * Factory: createExecutorFactory, runtimes, CreateExecutorFactoryOptions, KernelMode, RuntimeFactory
 * Local runtime: createLocalExecutor, createLocalExecutorFactory, createLocalKernelLauncher, findPythonWithIpykernel, findPythonWithIpykernelSync, LocalExecutorFactory, LocalExecutorOptions, LocalKernelLauncherOptions, probeBubblewrap, LocalSandboxMode, LocalSandboxOptions
 * Forked kernels: createForkKernelLauncher, forkSupported, ForkKernelLauncher, ForkKernelLauncherOptions, KernelStart, readProcessMemory, ProcessMemory
 * Container runtime: createDockerExecutor, createDockerExecutorFactory, createDockerKernelLauncher, defaultContainerOptions, DEFAULT_EXECUTOR_IMAGE, ContainerExit, ContainerSecurityOptions, DockerExecutorFactory, DockerExecutorOptions, DockerKernelLauncherOptions, KernelContainer
 * Docker engine: createDockerEngineClient, removeStaleContainers, DockerApiError, DockerEngineClient, ContainerMemory, DockerEndpoint
 * Remote runtime: createRemoteExecutor, createRemoteExecutorFactory, createRemoteKernelLauncher, JupyterHttpError, RemoteExecutorFactory, RemoteExecutorFactoryOptions, RemoteExecutorOptions, RemoteKernelLauncherOptions
 * Warm pool and kernel launchers: createWarmPool, KernelConnection, KernelLauncher, LaunchOptions, WarmPool, WarmPoolOptions
 */
export {
  createExecutorFactory,
  runtimes,
  type CreateExecutorFactoryOptions,
  type KernelMode,
  type RuntimeFactory,
} from "./factory.js";
export {
  createLocalExecutor,
  createLocalExecutorFactory,
  type LocalExecutorFactory,
  type LocalExecutorOptions,
} from "./local/local-executor.js";
export { createLocalKernelLauncher, type LocalKernelLauncherOptions } from "./local/local-kernel.js";
export { findPythonWithIpykernel, findPythonWithIpykernelSync } from "./local/python-discovery.js";
export { probeBubblewrap, type LocalSandboxMode, type LocalSandboxOptions } from "./local/sandbox.js";
export {
  createForkKernelLauncher,
  forkSupported,
  type ForkKernelLauncher,
  type ForkKernelLauncherOptions,
  type KernelStart,
} from "./local/fork-kernel-launcher.js";
export { readProcessMemory, type ProcessMemory } from "./local/process-memory.js";
export {
  createDockerEngineClient,
  createDockerExecutor,
  createDockerExecutorFactory,
  createDockerKernelLauncher,
  DEFAULT_EXECUTOR_IMAGE,
  defaultContainerOptions,
  DockerApiError,
  DockerEngineClient,
  removeStaleContainers,
  type ContainerExit,
  type ContainerMemory,
  type ContainerSecurityOptions,
  type DockerEndpoint,
  type DockerExecutorFactory,
  type DockerExecutorOptions,
  type DockerKernelLauncherOptions,
  type KernelContainer,
} from "./docker/index.js";
export {
  createRemoteExecutor,
  createRemoteExecutorFactory,
  createRemoteKernelLauncher,
  JupyterHttpError,
  type RemoteExecutorFactory,
  type RemoteExecutorFactoryOptions,
  type RemoteExecutorOptions,
  type RemoteKernelLauncherOptions,
} from "./remote/index.js";
export { createWarmPool, type WarmPool, type WarmPoolOptions } from "./warm-pool.js";
export type { KernelConnection, KernelLauncher, LaunchOptions } from "./kernel-executor.js";
