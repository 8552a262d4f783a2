import { randomBytes } from "node:crypto";
import { AbortedError, KernelDiedError, TaskWeaverError } from "@taskweaver/core";
import {
  ExecuteReplyContentSchema,
  KernelInfoReplyContentSchema,
  PROTOCOL_VERSION,
  parseKernelOutput,
  type ExecuteReplyContent,
  type JupyterMessage,
  type KernelChannel,
  type KernelInfoReplyContent,
  type KernelOutput,
  type RequestChannel,
} from "./messages.js";
import type { KernelTransport } from "./transport.js";

/** Options of `KernelClient.waitForReady`. */
export interface WaitForReadyOptions {
  signal?: AbortSignal;
  /** @default 60000 */
  timeoutMs?: number;
  /** The setting that holds the timeout, named in the timeout error (e.g. `execution_service.local.start_timeout`). */
  timeoutSetting?: string;
}

/** Options of `createKernelClient`. */
export interface KernelClientOptions {
  /** Session id stamped on every header. @default random hex */
  session?: string;
  /** @default "taskweaver" */
  username?: string;
  /** Called for transport problems that do not belong to a request (a bad signature, a failed send). */
  onTransportError?: (error: Error) => void;
}

/** Options of one request. */
export interface RequestOptions {
  metadata?: Record<string, unknown>;
  /** Also wait for the kernel's `status: idle` on iopub, which marks the end of all output. @default false */
  waitForIdle?: boolean;
  /** Every output message (stream, display, result, error) the request produces, as it arrives. */
  onOutput?: (output: KernelOutput, message: JupyterMessage) => void;
  /** Called as soon as the reply arrives, before `idle`. */
  onReply?: (reply: JupyterMessage) => void;
  /** Answers the kernel's `input_request`s of this request (see `ExecuteRequestOptions.onInputRequest`). */
  onInputRequest?: InputRequestHandler;
}

/** What the kernel asks on the stdin channel (`input_request`). */
export interface InputRequest {
  prompt: string;
  password: boolean;
}

/**
 * Answers one `input_request`; the resolved text goes back as the `input_reply`'s value. A
 * rejection or a throw answers with an empty value, so the kernel never waits forever.
 */
export type InputRequestHandler = (request: InputRequest) => string | Promise<string>;

/** A request in flight. */
export interface PendingRequestHandle {
  msgId: string;
  /** Resolves with the reply (after `idle` when asked); rejects when the client fails. */
  done: Promise<JupyterMessage>;
}

/** Options of `execute`. */
export interface ExecuteRequestOptions {
  /** Silent code produces no output, no history and does not run IPython's cell hooks. @default false */
  silent?: boolean;
  /** @default true unless silent */
  storeHistory?: boolean;
  metadata?: Record<string, unknown>;
  onOutput?: (output: KernelOutput, message: JupyterMessage) => void;
  /**
   * Answers the `input_request`s the kernel sends on the stdin channel while this code runs
   * (the support code's host calls). `allow_stdin` stays false, so a plain `input()` keeps
   * raising instead of waiting for an answer no one gives.
   */
  onInputRequest?: InputRequestHandler;
}

/** A running execution: its reply arrives after all of its output. */
export interface ExecuteHandle {
  msgId: string;
  done: Promise<JupyterMessage<ExecuteReplyContent>>;
}

/** Speaks the Jupyter protocol over any `KernelTransport`. */
export interface KernelClient {
  readonly session: string;
  request(
    channel: RequestChannel,
    msgType: string,
    content: Record<string, unknown>,
    options?: RequestOptions,
  ): PendingRequestHandle;
  execute(code: string, options?: ExecuteRequestOptions): ExecuteHandle;
  kernelInfo(): Promise<KernelInfoReplyContent>;
  /**
   * Resolves once the kernel answers `kernel_info_request` on shell AND its iopub messages reach
   * us, so no output of the first execution can be lost to ZeroMQ's late subscription.
   */
  waitForReady(options?: WaitForReadyOptions): Promise<KernelInfoReplyContent>;
  /** `interrupt_request` on control (kernels with `interrupt_mode: message`, remote kernels). */
  interrupt(): Promise<void>;
  /** `shutdown_request` on control; resolves on the reply. */
  shutdown(options?: { restart?: boolean }): Promise<void>;
  /** Stops waiting for a request (its `done` never settles). */
  forget(msgId: string): void;
  /** Rejects every pending and future request with `error` (the kernel died, the client closed). */
  fail(error: TaskWeaverError): void;
  /** Fails pending requests and closes the transport. */
  close(): void;
}

interface PendingEntry {
  reply: JupyterMessage | undefined;
  idle: boolean;
  waitForIdle: boolean;
  resolve: (reply: JupyterMessage) => void;
  reject: (error: unknown) => void;
  onOutput: RequestOptions["onOutput"];
  onReply: RequestOptions["onReply"];
  onInputRequest: RequestOptions["onInputRequest"];
}

class JupyterKernelClient implements KernelClient {
  readonly session: string;
  private readonly username: string;
  private readonly pending = new Map<string, PendingEntry>();
  private counter = 0;
  private failure: TaskWeaverError | undefined;

  constructor(
    private readonly transport: KernelTransport,
    private readonly options: KernelClientOptions,
  ) {
    this.session = options.session ?? randomBytes(16).toString("hex");
    this.username = options.username ?? "taskweaver";
    transport.setReceiver({
      onMessage: (channel, message) => this.dispatch(channel, message),
      onError: (error) => this.options.onTransportError?.(error),
      onClose: (reason) => this.fail(new KernelDiedError(`The kernel connection closed: ${reason}.`)),
    });
  }

  private dispatch(channel: KernelChannel, message: JupyterMessage): void {
    const parentId = message.parent_header.msg_id;
    if (parentId === undefined) return;
    const entry = this.pending.get(parentId);
    if (entry === undefined) return;
    if (channel === "iopub") {
      const type = message.header.msg_type;
      if (type === "status") {
        if ((message.content as { execution_state?: unknown }).execution_state === "idle") {
          entry.idle = true;
          this.settle(parentId, entry);
        }
        return;
      }
      if (entry.onOutput !== undefined) {
        const output = parseKernelOutput(message);
        if (output !== undefined) {
          try {
            entry.onOutput(output, message);
          } catch (error) {
            this.options.onTransportError?.(error instanceof Error ? error : new Error(String(error)));
          }
        }
      }
      return;
    }
    if (channel === "stdin") {
      if (message.header.msg_type === "input_request") this.answerInput(message, entry.onInputRequest);
      return;
    }
    if (!message.header.msg_type.endsWith("_reply")) return;
    entry.reply = message;
    entry.onReply?.(message);
    this.settle(parentId, entry);
  }

  private answerInput(request: JupyterMessage, handler: InputRequestHandler | undefined): void {
    const content = request.content as { prompt?: unknown; password?: unknown };
    const ask: InputRequest = { prompt: typeof content.prompt === "string" ? content.prompt : "", password: content.password === true };
    void Promise.resolve()
      .then(() => (handler ? handler(ask) : ""))
      .catch(() => "")
      .then((value) => {
        if (this.failure !== undefined) return;
        this.transport.send("stdin", this.createMessage("input_reply", { value }, request.header));
      });
  }

  private createMessage(
    msgType: string,
    content: Record<string, unknown>,
    parentHeader: JupyterMessage["parent_header"],
    metadata: Record<string, unknown> = {},
  ): JupyterMessage {
    this.counter += 1;
    return {
      header: {
        msg_id: `${this.session}_${this.counter}`,
        msg_type: msgType,
        session: this.session,
        username: this.username,
        date: new Date().toISOString(),
        version: PROTOCOL_VERSION,
      },
      parent_header: parentHeader,
      metadata,
      content,
    };
  }

  private settle(msgId: string, entry: PendingEntry): void {
    if (entry.reply === undefined || (entry.waitForIdle && !entry.idle)) return;
    this.pending.delete(msgId);
    entry.resolve(entry.reply);
  }

  request(
    channel: RequestChannel,
    msgType: string,
    content: Record<string, unknown>,
    options: RequestOptions = {},
  ): PendingRequestHandle {
    const message = this.createMessage(msgType, content, {}, options.metadata);
    const msgId = message.header.msg_id;
    if (this.failure !== undefined) return { msgId, done: Promise.reject(this.failure) };
    const done = new Promise<JupyterMessage>((resolve, reject) => {
      this.pending.set(msgId, {
        reply: undefined,
        idle: false,
        waitForIdle: options.waitForIdle ?? false,
        resolve,
        reject,
        onOutput: options.onOutput,
        onReply: options.onReply,
        onInputRequest: options.onInputRequest,
      });
    });
    this.transport.send(channel, message);
    return { msgId, done };
  }

  execute(code: string, options: ExecuteRequestOptions = {}): ExecuteHandle {
    const silent = options.silent ?? false;
    const handle = this.request(
      "shell",
      "execute_request",
      {
        code,
        silent,
        store_history: options.storeHistory ?? !silent,
        user_expressions: {},
        allow_stdin: false,
        // Our executions are serialised; aborting queued ones after an error would only hurt.
        stop_on_error: false,
      },
      { metadata: options.metadata, waitForIdle: true, onOutput: options.onOutput, onInputRequest: options.onInputRequest },
    );
    return {
      msgId: handle.msgId,
      done: handle.done.then((reply) => {
        const parsed = ExecuteReplyContentSchema.safeParse(reply.content);
        if (!parsed.success) {
          throw new TaskWeaverError(
            "kernel_message_invalid",
            `Malformed execute_reply: ${parsed.error.message}`,
          );
        }
        return { ...reply, content: parsed.data };
      }),
    };
  }

  async kernelInfo(): Promise<KernelInfoReplyContent> {
    const reply = await this.request("shell", "kernel_info_request", {}).done;
    return parseKernelInfo(reply);
  }

  async waitForReady(options: WaitForReadyOptions = {}): Promise<KernelInfoReplyContent> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const stop = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new KernelDiedError(
              `The kernel did not answer within ${Math.round(timeoutMs / 1000)} s of starting` +
                (options.timeoutSetting ? `; on a slow machine raise ${options.timeoutSetting}.` : "."),
            ),
          ),
        timeoutMs,
      );
      onAbort = () => reject(new AbortedError("Starting the kernel was cancelled."));
      if (options.signal?.aborted) onAbort();
      options.signal?.addEventListener("abort", onAbort, { once: true });
    });
    try {
      // The first request waits in ZeroMQ's queue until the kernel binds; its reply means "up".
      let gotReply!: () => void;
      const replied = new Promise<void>((resolve) => (gotReply = resolve));
      let handle = this.request(
        "shell",
        "kernel_info_request",
        {},
        { waitForIdle: true, onReply: () => gotReply() },
      );
      await Promise.race([replied, handle.done, stop]);
      // iopub may have subscribed after the kernel published that request's status; ask again
      // until the idle of some request arrives, proving iopub delivers.
      for (;;) {
        const outcome = await Promise.race([handle.done, delay(100).then(() => undefined), stop]);
        if (outcome !== undefined) return parseKernelInfo(outcome);
        this.forget(handle.msgId);
        handle = this.request("shell", "kernel_info_request", {}, { waitForIdle: true });
      }
    } finally {
      clearTimeout(timer);
      if (onAbort) options.signal?.removeEventListener("abort", onAbort);
    }
  }

  async interrupt(): Promise<void> {
    await this.request("control", "interrupt_request", {}).done;
  }

  async shutdown(options: { restart?: boolean } = {}): Promise<void> {
    await this.request("control", "shutdown_request", { restart: options.restart ?? false }).done;
  }

  forget(msgId: string): void {
    this.pending.delete(msgId);
  }

  fail(error: TaskWeaverError): void {
    if (this.failure === undefined) this.failure = error;
    const entries = [...this.pending.values()];
    this.pending.clear();
    for (const entry of entries) entry.reject(error);
  }

  close(): void {
    this.fail(new KernelDiedError("The kernel client was closed."));
    this.transport.close();
  }
}

function parseKernelInfo(reply: JupyterMessage): KernelInfoReplyContent {
  const parsed = KernelInfoReplyContentSchema.safeParse(reply.content);
  if (!parsed.success) {
    throw new TaskWeaverError(
      "kernel_message_invalid",
      `Malformed kernel_info_reply: ${parsed.error.message}`,
    );
  }
  return parsed.data;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Creates a Jupyter protocol client over a transport (ZeroMQ for local and Docker kernels, WebSocket for remote ones). */
export function createKernelClient(
  transport: KernelTransport,
  options: KernelClientOptions = {},
): KernelClient {
  return new JupyterKernelClient(transport, options);
}
