/**
 * The remote runtime (`execution_service.kernel_mode = "remote"`): kernels on a Jupyter Server,
 * Kernel Gateway or Enterprise Gateway. The names below are the folder's surface; the package
 * index re-exports most of them, and tests import this file by path.
 */
export {
  createRemoteExecutor,
  createRemoteExecutorFactory,
  remotePoolDirectory,
  type RemoteExecutorFactory,
  type RemoteExecutorFactoryOptions,
  type RemoteExecutorOptions,
} from "./remote-executor.js";
export { createRemoteKernelLauncher, type RemoteKernelLauncherOptions } from "./remote-kernel.js";
export { JupyterHttpError } from "./jupyter-rest-client.js";
