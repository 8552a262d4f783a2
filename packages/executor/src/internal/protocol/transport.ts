import type { JupyterMessage, KernelChannel, RequestChannel } from "./messages.js";

/**
 * Moves Jupyter messages between the client and a kernel. The ZeroMQ transport signs and frames
 * them; a WebSocket transport (Jupyter server, gateway) sends the same messages as JSON with a
 * `channel` field. The client above it is the same for both.
 */
export interface KernelTransport {
  /** Queues a message; delivery failures are reported through `onError` of the receiver. */
  send(channel: RequestChannel, message: JupyterMessage): void;
  /** Installs the single receiver of incoming messages (replaces any earlier one). */
  setReceiver(receiver: TransportReceiver): void;
  /** Closes every socket; idempotent. Pending sends are dropped. */
  close(): void;
}

export interface TransportReceiver {
  onMessage(channel: KernelChannel, message: JupyterMessage): void;
  /** A message could not be decoded or sent; the transport keeps running. */
  onError(error: Error): void;
  /** The transport can no longer deliver messages (socket closed by the peer, server gone). */
  onClose?(reason: string): void;
}
