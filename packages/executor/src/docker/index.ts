/**
 * The container runtime: `execution_service.kernel_mode = "container"`, each kernel in its own
 * locked-down container. The folder is named after Docker, not after the mode, because Docker
 * (its Engine API, through dockerode) is what this code speaks: the mode's name says what a
 * user gets, the folder's says which engine provides it. Another container engine would get a
 * folder of its own beside this one, under the same mode.
 *
 * The names below are the folder's surface; the package index re-exports most of them, and
 * tests that load the runtime by path (a host process in a child) import this file.
 */
export {
  createDockerExecutor,
  createDockerExecutorFactory,
  createDockerKernelLauncher,
  dockerKernelStart,
  dockerPoolDirectory,
  type DockerKernelLauncher,
  type DockerExecutorFactory,
  type DockerExecutorOptions,
  type DockerKernelLauncherOptions,
} from "./docker-executor.js";
export { DEFAULT_EXECUTOR_IMAGE, defaultContainerOptions, type ContainerSecurityOptions } from "./container-options.js";
export {
  createDockerEngineClient,
  DockerApiError,
  DockerEngineClient,
  type ContainerMemory,
  type DockerEndpoint,
} from "./engine-client.js";
export type { ContainerExit, KernelContainer } from "./kernel-container.js";
export { removeStaleContainers } from "./container-cleanup.js";
