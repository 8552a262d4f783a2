// The remote runtime's public surface, for the package entry to re-export.
export {
  createRemoteExecutor,
  createRemoteExecutorFactory,
  remotePoolDirectory,
  type RemoteExecutorFactory,
  type RemoteExecutorFactoryOptions,
  type RemoteExecutorOptions,
} from "./remote-executor.js";
export { createRemoteKernelLauncher, type RemoteKernelLauncherOptions } from "./remote-kernel.js";
export { resolveRemoteSettings, type RemoteSettings } from "./remote-settings.js";
export {
  connectKernelWebSocket,
  kernelChannelsUrl,
  type KernelWebSocketOptions,
  type KernelWebSocketTransport,
} from "./kernel-websocket.js";
export {
  createJupyterRestClient,
  JupyterHttpError,
  type JupyterRestClient,
  type JupyterRestClientOptions,
  type KernelModel,
} from "./jupyter-rest-client.js";
export { remoteKernelsPendingExitCleanup } from "./kernel-cleanup.js";
