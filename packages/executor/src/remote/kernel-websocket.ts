import type { IncomingMessage } from "node:http";
import { AbortedError, ExecutorUnavailableError, KernelDiedError, TaskWeaverError } from "@taskweaver/core";
import WebSocket from "ws";
import { z } from "zod";
import {
  JupyterMessageSchema,
  type JupyterMessage,
  type KernelChannel,
  type RequestChannel,
} from "../internal/protocol/messages.js";
import type { KernelTransport, TransportReceiver } from "../internal/protocol/transport.js";
import { TOKEN_SOURCES } from "./remote-settings.js";

/** Options of {@link connectKernelWebSocket}. */
export interface KernelWebSocketOptions {
  /** Server base URL ending with `/`; `http` becomes `ws`, `https` becomes `wss`. */
  baseUrl: URL;
  token: string | undefined;
  kernelId: string;
  /** The Jupyter session id of our client (also stamped on every message header). */
  sessionId: string;
  signal?: AbortSignal;
  /** @default 30000 */
  connectTimeoutMs?: number;
  /**
   * Answer every burst of incoming frames with an empty, unsolicited WebSocket pong.
   *
   * Jupyter's Tornado server writes each kernel message separately with Nagle's algorithm on,
   * so after the first message of an execution it waits for our TCP ACK before sending the
   * rest, and Linux delays that ACK by ~40 ms. A pong carries the ACK at once (RFC 6455 allows
   * unsolicited pongs; the server ignores them). Measured on `1+1`: p50 ~50 ms without, ~5 ms with.
   * @default true
   */
  promptAcknowledge?: boolean;
  /** Interval of WebSocket pings that detect a silently dropped connection; 0 disables. @default 30000 */
  keepAliveIntervalMs?: number;
  /**
   * Pauses before each attempt to reopen a WebSocket that dropped while the kernel lives on
   * (a proxy timeout, a network blip). The server buffers the kernel's messages for our
   * session meanwhile and replays them, so a running execution completes normally. An empty
   * list turns reconnection off: a dropped socket then counts as a dead kernel.
   * @default [100, 500, 2000]
   */
  reconnectDelaysMs?: readonly number[];
}

/** A `KernelTransport` over the server's `/api/kernels/{id}/channels` WebSocket. */
export interface KernelWebSocketTransport extends KernelTransport {
  /** True once the socket closed, the kernel died or `close()` was called. */
  readonly closed: boolean;
}

const ChannelSchema = z.enum(["shell", "control", "iopub", "stdin"]);
const WireMessageSchema = JupyterMessageSchema.extend({ channel: ChannelSchema }).loose();

/** The WebSocket URL of a kernel's channels. */
export function kernelChannelsUrl(baseUrl: URL, kernelId: string, sessionId: string): URL {
  const url = new URL(`api/kernels/${encodeURIComponent(kernelId)}/channels`, baseUrl);
  url.protocol = baseUrl.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("session_id", sessionId);
  return url;
}

class WebSocketKernelTransport implements KernelWebSocketTransport {
  private receiver: TransportReceiver | undefined;
  /** Messages that arrived before the client installed its receiver. */
  private readonly early: { channel: KernelChannel; message: JupyterMessage }[] = [];
  private acknowledgeScheduled = false;
  private keepAlive: NodeJS.Timeout | undefined;
  private awaitingPong = false;
  private closeReason: string | undefined;
  private reconnecting = false;
  /** Messages sent while reconnecting, delivered once the new socket is open. */
  private readonly outgoing: string[] = [];
  private socket!: WebSocket;

  constructor(
    socket: WebSocket,
    private readonly options: KernelWebSocketOptions,
  ) {
    this.attach(socket);
    const interval = options.keepAliveIntervalMs ?? 30_000;
    if (interval > 0) {
      this.keepAlive = setInterval(() => {
        if (this.reconnecting || this.socket.readyState !== WebSocket.OPEN) return;
        if (this.awaitingPong) {
          // No answer to the previous ping: the connection is gone without a FIN.
          this.socket.terminate();
          return;
        }
        this.awaitingPong = true;
        this.socket.ping();
      }, interval);
      this.keepAlive.unref();
    }
  }

  private attach(socket: WebSocket): void {
    this.socket = socket;
    this.awaitingPong = false;
    socket.on("message", (data, isBinary) => {
      if (this.socket === socket) this.onFrame(data, isBinary);
    });
    socket.on("close", (code, reason) => {
      if (this.socket !== socket || this.closeReason !== undefined) return;
      const text = reason.toString("utf8");
      this.onDropped(`the WebSocket to the Jupyter server closed (code ${code}${text ? `, ${text}` : ""})`);
    });
    socket.on("error", (error) => {
      if (this.socket === socket) this.receiver?.onError(error);
    });
    socket.on("pong", () => {
      this.awaitingPong = false;
    });
  }

  private onDropped(reason: string): void {
    const delays = this.options.reconnectDelaysMs ?? [100, 500, 2_000];
    if (delays.length === 0) {
      this.finish(reason);
      return;
    }
    this.reconnecting = true;
    void this.reconnect(reason, delays);
  }

  private async reconnect(reason: string, delays: readonly number[]): Promise<void> {
    let lastFailure = "";
    for (const pause of delays) {
      await new Promise((resolve) => setTimeout(resolve, pause));
      if (this.closeReason !== undefined) return;
      try {
        const socket = await openSocket({ ...this.options, signal: undefined });
        if (this.closeReason !== undefined) {
          socket.terminate();
          return;
        }
        this.attach(socket);
        this.reconnecting = false;
        for (const text of this.outgoing.splice(0)) this.write(text);
        return;
      } catch (error) {
        lastFailure = error instanceof Error ? error.message : String(error);
        // The kernel is gone or we are no longer allowed in: trying again cannot help.
        if (TaskWeaverError.isInstance(error) && /HTTP (401|403|404)/.test(error.message)) break;
      }
    }
    this.reconnecting = false;
    this.finish(`${reason}, and reconnecting failed: ${lastFailure.replace(/\.$/, "")}`);
  }

  get closed(): boolean {
    return this.closeReason !== undefined;
  }

  private onFrame(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.options.promptAcknowledge !== false) this.scheduleAcknowledge();
    if (isBinary) {
      // The binary (v1) protocol is only used when negotiated as a subprotocol; we never ask.
      this.receiver?.onError(
        new TaskWeaverError("kernel_message_invalid", "Unexpected binary WebSocket frame."),
      );
      return;
    }
    const text = Array.isArray(data)
      ? Buffer.concat(data).toString("utf8")
      : Buffer.from(data as ArrayBuffer).toString("utf8");
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      this.receiver?.onError(
        new TaskWeaverError("kernel_message_invalid", `Kernel message is not JSON: ${text.slice(0, 120)}`),
      );
      return;
    }
    const parsed = WireMessageSchema.safeParse(json);
    if (!parsed.success) {
      this.receiver?.onError(
        new TaskWeaverError(
          "kernel_message_invalid",
          `Malformed kernel message: ${parsed.error.issues[0]?.message ?? ""}`,
        ),
      );
      return;
    }
    const { channel, header, parent_header, metadata, content } = parsed.data;
    const message: JupyterMessage = { header, parent_header, metadata, content };
    if (channel === "iopub" && header.msg_type === "status") {
      // The server itself reports kernel death and automatic restarts as unparented status messages.
      const state = (content as { execution_state?: unknown }).execution_state;
      if (state === "dead") {
        this.deliver(channel, message);
        this.finish("the kernel process on the server died and the server gave up restarting it");
        return;
      }
      if (state === "restarting") {
        this.deliver(channel, message);
        this.finish("the kernel process on the server died");
        return;
      }
    }
    this.deliver(channel, message);
  }

  private deliver(channel: KernelChannel, message: JupyterMessage): void {
    if (this.closeReason !== undefined) return;
    if (this.receiver === undefined) this.early.push({ channel, message });
    else this.receiver.onMessage(channel, message);
  }

  private scheduleAcknowledge(): void {
    if (this.acknowledgeScheduled) return;
    this.acknowledgeScheduled = true;
    // One pong per burst: frames parsed from the same TCP read all arrive before setImmediate.
    setImmediate(() => {
      this.acknowledgeScheduled = false;
      if (this.socket.readyState === WebSocket.OPEN) this.socket.pong();
    });
  }

  private finish(reason: string): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    clearInterval(this.keepAlive);
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) {
      this.socket.close(1000);
    }
    this.receiver?.onClose?.(reason);
  }

  send(channel: RequestChannel, message: JupyterMessage): void {
    const { header, parent_header, metadata, content } = message;
    const text = JSON.stringify({ header, parent_header, metadata, content, channel });
    if (this.reconnecting && this.closeReason === undefined) {
      this.outgoing.push(text);
      return;
    }
    if (this.closeReason !== undefined || this.socket.readyState !== WebSocket.OPEN) {
      this.receiver?.onError(
        new KernelDiedError(
          `Cannot send ${message.header.msg_type}: ${this.closeReason ?? "the WebSocket is not open"}.`,
        ),
      );
      return;
    }
    this.write(text);
  }

  private write(text: string): void {
    this.socket.send(text, (error) => {
      if (error) this.receiver?.onError(error);
    });
  }

  setReceiver(receiver: TransportReceiver): void {
    this.receiver = receiver;
    const queued = this.early.splice(0);
    for (const { channel, message } of queued) receiver.onMessage(channel, message);
  }

  close(): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = "closed by the client";
    clearInterval(this.keepAlive);
    this.socket.removeAllListeners("message");
    this.socket.on("error", () => undefined);
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(1000);
    else this.socket.terminate();
  }
}

function handshakeError(response: IncomingMessage, options: KernelWebSocketOptions): TaskWeaverError {
  const status = response.statusCode ?? 0;
  response.resume();
  if (status === 401 || status === 403) {
    return new ExecutorUnavailableError(
      `The Jupyter server refused the kernel WebSocket (HTTP ${status}): ` +
        (options.token === undefined
          ? `no token is configured, set ${TOKEN_SOURCES}.`
          : `check ${TOKEN_SOURCES}.`),
    );
  }
  if (status === 404) {
    return new KernelDiedError(
      `The remote kernel ${options.kernelId} no longer exists on the server (HTTP 404).`,
    );
  }
  return new ExecutorUnavailableError(
    `The Jupyter server answered the kernel WebSocket with HTTP ${status} ${response.statusMessage ?? ""}`.trim() +
      ".",
  );
}

/** Opens one WebSocket to the kernel's channels; resolves once the handshake succeeded. */
async function openSocket(options: KernelWebSocketOptions): Promise<WebSocket> {
  if (options.signal?.aborted) throw new AbortedError("Connecting to the remote kernel was cancelled.");
  const url = kernelChannelsUrl(options.baseUrl, options.kernelId, options.sessionId);
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.Authorization = `token ${options.token}`;
  const timeoutMs = options.connectTimeoutMs ?? 30_000;
  const socket = new WebSocket(url, {
    headers,
    perMessageDeflate: false,
    handshakeTimeout: timeoutMs,
    // Jupyter messages can carry large images; the server's own limit applies first.
    maxPayload: 512 * 1024 * 1024,
  });

  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (error?: TaskWeaverError) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener("abort", onAbort);
      socket.off("open", onOpen);
      socket.off("unexpected-response", onUnexpected);
      socket.off("error", onError);
      if (error) {
        socket.on("error", () => undefined);
        socket.terminate();
        reject(error);
      } else resolve();
    };
    const onOpen = () => settle();
    const onUnexpected = (_request: unknown, response: IncomingMessage) =>
      settle(handshakeError(response, options));
    const onError = (error: Error) => {
      const code = (error as { code?: string }).code;
      const detail = code === "ECONNREFUSED" ? "connection refused (is the server running?)" : error.message;
      settle(
        new ExecutorUnavailableError(
          `Cannot open the kernel WebSocket ${url.origin}${url.pathname}: ${detail}.`,
          { cause: error },
        ),
      );
    };
    const onAbort = () => settle(new AbortedError("Connecting to the remote kernel was cancelled."));
    socket.on("open", onOpen);
    socket.on("unexpected-response", onUnexpected);
    socket.on("error", onError);
    options.signal?.addEventListener("abort", onAbort, { once: true });
  });
  return socket;
}

/** Opens the kernel's channels WebSocket; resolves once it is open. */
export async function connectKernelWebSocket(
  options: KernelWebSocketOptions,
): Promise<KernelWebSocketTransport> {
  return new WebSocketKernelTransport(await openSocket(options), options);
}
