// The Docker runtime's public surface; the package index re-exports these names.
export {
  createDockerExecutor,
  createDockerExecutorFactory,
  createDockerKernelLauncher,
  dockerPoolDirectory,
  type DockerExecutorFactory,
  type DockerExecutorOptions,
  type DockerKernelLauncherOptions,
} from "./docker-executor.js";
export {
  DEFAULT_EXECUTOR_IMAGE,
  containerOptionsFromConfig,
  defaultContainerOptions,
  parseSize,
  type ContainerSecurityOptions,
} from "./container-options.js";
export {
  createDockerEngineClient,
  DockerApiError,
  DockerEngineClient,
  resolveDockerEndpoint,
  type ContainerMemory,
  type DockerEndpoint,
} from "./engine-client.js";
export { checkDockerReady, KernelContainer, type ContainerExit, type KernelConnectionInfo } from "./kernel-container.js";
export { isProcessAlive, removeStaleContainers } from "./container-cleanup.js";
