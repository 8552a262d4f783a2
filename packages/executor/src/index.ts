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
export { createWarmPool, type WarmPool, type WarmPoolOptions } from "./warm-pool.js";
export { createLocalKernelLauncher, type LocalKernelLauncherOptions } from "./local/local-kernel.js";
export {
  DEFAULT_PYTHON_CANDIDATES,
  findPythonWithIpykernel,
  findPythonWithIpykernelSync,
} from "./local/python-discovery.js";
export {
  createKernelExecutor,
  type KernelConnection,
  type KernelExecutorOptions,
  type KernelLauncher,
  type LaunchOptions,
} from "./kernel-executor.js";
export * from "./docker/index.js";
export * from "./remote/index.js";
export { ExecutionCollector, type ExecutionCollectorOptions } from "./execution-collector.js";
export {
  createWorkingDirectoryFiles,
  resolveInsideWorkingDirectory,
  type WorkingDirectoryFiles,
  type WorkingDirectoryFilesOptions,
} from "./working-directory.js";
export {
  createBindWorkingDirectoryCode,
  createBootstrapCode,
  createLoadPluginCode,
  createSetSessionVariablesCode,
  EVENT_MIME,
  readSupportSource,
  SUPPORT_CODE_PATH,
  type SupportInstallOptions,
} from "./support-code.js";
export { stripAnsi } from "./ansi.js";
export {
  createKernelClient,
  type ExecuteHandle,
  type ExecuteRequestOptions,
  type KernelClient,
  type KernelClientOptions,
  type WaitForReadyOptions,
  type PendingRequestHandle,
  type RequestOptions,
} from "./protocol/kernel-client.js";
export {
  channelEndpoint,
  ConnectionInfoSchema,
  JupyterMessageSchema,
  parseKernelOutput,
  PROTOCOL_VERSION,
  type ConnectionInfo,
  type ExecuteReplyContent,
  type JupyterMessage,
  type KernelChannel,
  type KernelInfoReplyContent,
  type KernelOutput,
  type MessageHeader,
  type RequestChannel,
} from "./protocol/messages.js";
export type { KernelTransport, TransportReceiver } from "./protocol/transport.js";
export {
  createMessageSigner,
  decodeMessage,
  DELIMITER,
  encodeMessage,
  WireFormatError,
  type MessageSigner,
} from "./protocol/wire.js";
export {
  createZmqTransport,
  startZmqHeartbeat,
  type HeartbeatOptions,
  type ZmqTransportOptions,
} from "./protocol/zmq-transport.js";
