/**
 * `@taskweaver/executor/internal`: the few internals that the repository's own end-to-end tests
 * and benchmarks drive directly (the protocol client over a bare transport, the Jupyter REST
 * client, the pool folders of the runtimes' factories). Not part of the public API: names here
 * may change in any release. Library code uses `@taskweaver/executor`.
 *
 * @publicApi
 * Protocol: createKernelClient, KernelClient
 * Remote runtime: connectKernelWebSocket, createJupyterRestClient, remotePoolDirectory, JupyterRestClient
 * Container runtime: dockerPoolDirectory
 */
export { createKernelClient, type KernelClient } from "./protocol/kernel-client.js";
export { connectKernelWebSocket } from "../remote/kernel-websocket.js";
export { createJupyterRestClient, type JupyterRestClient } from "../remote/jupyter-rest-client.js";
export { remotePoolDirectory } from "../remote/remote-executor.js";
export { dockerPoolDirectory } from "../docker/docker-executor.js";
