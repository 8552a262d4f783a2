import { randomBytes } from "node:crypto";
import * as zmq from "zeromq";
import {
  channelEndpoint,
  type ConnectionInfo,
  type JupyterMessage,
  type KernelChannel,
  type RequestChannel,
} from "./messages.js";
import type { KernelTransport, TransportReceiver } from "./transport.js";
import { createMessageSigner, decodeMessage, encodeMessage, type MessageSigner } from "./wire.js";

/** Options of the ZeroMQ transport. */
export interface ZmqTransportOptions {
  /**
   * Milliseconds between connection attempts while the kernel has not bound its sockets yet.
   * ZeroMQ's 100 ms default would add up to 100 ms to every kernel start.
   * @default 5
   */
  reconnectIntervalMs?: number;
}

type Frames = (string | Uint8Array)[];

/**
 * zeromq 6 allows one `send` in flight per socket; messages sent meanwhile wait here, in order,
 * so callers never await a send.
 */
class SendQueue {
  private busy = false;
  private readonly pending: Frames[] = [];

  constructor(
    private readonly socket: zmq.Dealer,
    private readonly onError: (error: Error) => void,
  ) {}

  push(frames: Frames): void {
    if (this.busy) this.pending.push(frames);
    else this.write(frames);
  }

  private write(frames: Frames): void {
    this.busy = true;
    this.socket.send(frames).then(this.next, (error: unknown) => {
      if (!this.socket.closed) this.onError(error instanceof Error ? error : new Error(String(error)));
      this.next();
    });
  }

  private readonly next = (): void => {
    const frames = this.pending.shift();
    if (frames === undefined) this.busy = false;
    else this.write(frames);
  };
}

/**
 * Connects to a kernel's shell, control and iopub sockets over ZeroMQ (tcp or ipc), signing
 * outgoing and verifying incoming messages with the connection key. Used for local kernels and
 * for kernels in containers (connect to the published ports with the same key).
 */
export function createZmqTransport(
  connection: ConnectionInfo,
  options: ZmqTransportOptions = {},
): KernelTransport {
  const signer: MessageSigner = createMessageSigner(connection.key);
  const reconnectInterval = options.reconnectIntervalMs ?? 5;
  // linger 0: closing must never wait for undelivered messages to a dead kernel.
  // The kernel sends an `input_request` on stdin to the routing id the execute_request came from
  // on shell, so both sockets must share one (as jupyter_client's do).
  const routingId = randomBytes(16).toString("hex");
  const shell = new zmq.Dealer({ linger: 0, reconnectInterval, routingId });
  const control = new zmq.Dealer({ linger: 0, reconnectInterval });
  const stdin = new zmq.Dealer({ linger: 0, reconnectInterval, routingId });
  const iopub = new zmq.Subscriber({ linger: 0, reconnectInterval });
  iopub.subscribe();
  shell.connect(channelEndpoint(connection, "shell"));
  control.connect(channelEndpoint(connection, "control"));
  stdin.connect(channelEndpoint(connection, "stdin"));
  iopub.connect(channelEndpoint(connection, "iopub"));

  let receiver: TransportReceiver | undefined;
  let closed = false;
  const reportError = (error: Error) => receiver?.onError(error);
  const queues: Record<RequestChannel, SendQueue> = {
    shell: new SendQueue(shell, reportError),
    control: new SendQueue(control, reportError),
    stdin: new SendQueue(stdin, reportError),
  };

  // One receive loop per socket; each awaits the next message, no polling.
  const listen = async (channel: KernelChannel, socket: zmq.Dealer | zmq.Subscriber) => {
    try {
      for await (const frames of socket) {
        let message: JupyterMessage;
        try {
          message = decodeMessage(frames, signer);
        } catch (error) {
          reportError(error as Error);
          continue;
        }
        try {
          receiver?.onMessage(channel, message);
        } catch (error) {
          // A failing listener must not end this socket's receive loop.
          reportError(error instanceof Error ? error : new Error(String(error)));
        }
      }
    } catch (error) {
      if (!closed) reportError(error as Error);
    }
  };
  void listen("shell", shell);
  void listen("control", control);
  void listen("stdin", stdin);
  void listen("iopub", iopub);

  return {
    send(channel, message) {
      if (closed) return;
      queues[channel].push(encodeMessage(message, signer));
    },
    setReceiver(next) {
      receiver = next;
    },
    close() {
      if (closed) return;
      closed = true;
      for (const socket of [shell, control, stdin, iopub]) socket.close();
      receiver?.onClose?.("transport closed");
    },
  };
}

/** Options of `startZmqHeartbeat`. */
export interface HeartbeatOptions {
  /** @default 1000 */
  intervalMs?: number;
  /** Consecutive missed pings before the kernel is declared dead. @default 3 */
  maxMisses?: number;
  /** Called once when the kernel stops answering. */
  onDead: (reason: string) => void;
}

/**
 * Pings the kernel's heartbeat socket (an echo server) and reports when it stops answering.
 * For kernels whose process the host cannot watch (containers, remote); a local kernel's death
 * is seen at once through its process exit. Returns a function that stops the heartbeat.
 */
export function startZmqHeartbeat(connection: ConnectionInfo, options: HeartbeatOptions): () => void {
  const intervalMs = options.intervalMs ?? 1000;
  const maxMisses = options.maxMisses ?? 3;
  let stopped = false;
  let socket: zmq.Request | undefined;
  const run = async () => {
    let misses = 0;
    while (!stopped) {
      // A REQ socket that missed a reply is stuck in the wrong state: use a fresh one per ping.
      socket = new zmq.Request({
        linger: 0,
        receiveTimeout: intervalMs,
        sendTimeout: intervalMs,
        reconnectInterval: 50,
      });
      socket.connect(channelEndpoint(connection, "hb"));
      const started = Date.now();
      try {
        await socket.send("ping");
        await socket.receive();
        misses = 0;
      } catch {
        misses += 1;
      } finally {
        socket.close();
      }
      if (stopped) return;
      if (misses >= maxMisses) {
        options.onDead(`the kernel missed ${misses} heartbeats`);
        return;
      }
      const wait = intervalMs - (Date.now() - started);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait).unref());
    }
  };
  void run();
  return () => {
    stopped = true;
    if (socket && !socket.closed) socket.close();
  };
}
