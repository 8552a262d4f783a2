import { z } from "zod";

/**
 * Jupyter messaging protocol (version 5.3) as TypeScript types and zod schemas. Field names
 * stay snake_case because they are the wire format shared with Python.
 */

/** The protocol version we speak. */
export const PROTOCOL_VERSION = "5.3";

/** The sockets a kernel offers. `iopub` is kernel-to-client broadcast; the others are request/reply. */
export type KernelChannel = "shell" | "control" | "iopub" | "stdin";

/** The channels a client sends requests on. */
export type RequestChannel = "shell" | "control" | "stdin";

/** Header of every message. */
export interface MessageHeader {
  msg_id: string;
  msg_type: string;
  session: string;
  username: string;
  date: string;
  version: string;
}

/** A message as the client sees it, independent of the transport (ZeroMQ frames, WebSocket JSON). */
export interface JupyterMessage<Content = Record<string, unknown>> {
  header: MessageHeader;
  /** The header of the request this message answers; `{}` for unsolicited messages. */
  parent_header: Partial<MessageHeader>;
  metadata: Record<string, unknown>;
  content: Content;
  /** Binary buffers (rarely used by kernels; kept for completeness). */
  buffers?: Uint8Array[];
}

export const MessageHeaderSchema = z.object({
  msg_id: z.string(),
  msg_type: z.string(),
  session: z.string().default(""),
  username: z.string().default(""),
  date: z.string().default(""),
  version: z.string().default(PROTOCOL_VERSION),
});

/** `parent_header` is `{}` on unsolicited messages, so every field is optional. */
export const ParentHeaderSchema = z
  .object({ msg_id: z.string().optional(), msg_type: z.string().optional(), session: z.string().optional() })
  .loose();

export const JupyterMessageSchema = z.object({
  header: MessageHeaderSchema,
  parent_header: ParentHeaderSchema.default({}),
  metadata: z.record(z.string(), z.unknown()).default({}),
  content: z.record(z.string(), z.unknown()).default({}),
});

// Content of the messages the client acts on. Unknown fields are allowed (newer kernels add some).

export const StreamContentSchema = z.object({ name: z.enum(["stdout", "stderr"]), text: z.string() });
export const DisplayDataContentSchema = z.object({
  data: z.record(z.string(), z.unknown()),
  metadata: z.record(z.string(), z.unknown()).default({}),
  transient: z.record(z.string(), z.unknown()).optional(),
});
export const ExecuteResultContentSchema = DisplayDataContentSchema.extend({
  execution_count: z.number().nullable().optional(),
});
export const ErrorContentSchema = z.object({
  ename: z.string(),
  evalue: z.string(),
  traceback: z.array(z.string()).default([]),
});
export const StatusContentSchema = z.object({ execution_state: z.string() });
export const ExecuteReplyContentSchema = z
  .object({
    status: z.enum(["ok", "error", "aborted"]),
    execution_count: z.number().nullable().optional(),
    ename: z.string().optional(),
    evalue: z.string().optional(),
    traceback: z.array(z.string()).optional(),
  })
  .loose();
export const KernelInfoReplyContentSchema = z
  .object({
    status: z.string().default("ok"),
    protocol_version: z.string(),
    implementation: z.string().default(""),
    implementation_version: z.string().default(""),
    language_info: z.object({ name: z.string(), version: z.string().default("") }).loose(),
  })
  .loose();

export type StreamContent = z.infer<typeof StreamContentSchema>;
export type DisplayDataContent = z.infer<typeof DisplayDataContentSchema>;
export type ExecuteResultContent = z.infer<typeof ExecuteResultContentSchema>;
export type ErrorContent = z.infer<typeof ErrorContentSchema>;
export type ExecuteReplyContent = z.infer<typeof ExecuteReplyContentSchema>;
export type KernelInfoReplyContent = z.infer<typeof KernelInfoReplyContentSchema>;

/** Output messages on iopub, parsed: what an execution produced. */
export type KernelOutput =
  | { type: "stream"; content: StreamContent }
  | { type: "display_data"; content: DisplayDataContent }
  | { type: "execute_result"; content: ExecuteResultContent }
  | { type: "error"; content: ErrorContent };

/**
 * Parses the content of an iopub output message. Returns undefined for message types that
 * carry no output (status, execute_input, clear_output, comm messages) or malformed content.
 */
export function parseKernelOutput(message: JupyterMessage): KernelOutput | undefined {
  const type = message.header.msg_type;
  let result;
  switch (type) {
    case "stream":
      result = StreamContentSchema.safeParse(message.content);
      return result.success ? { type, content: result.data } : undefined;
    case "display_data":
    case "update_display_data":
      result = DisplayDataContentSchema.safeParse(message.content);
      return result.success ? { type: "display_data", content: result.data } : undefined;
    case "execute_result":
      result = ExecuteResultContentSchema.safeParse(message.content);
      return result.success ? { type, content: result.data } : undefined;
    case "error":
      result = ErrorContentSchema.safeParse(message.content);
      return result.success ? { type, content: result.data } : undefined;
    default:
      return undefined;
  }
}

/** The connection file a kernel is started with (`kernel-<id>.json`), as Jupyter defines it. */
export const ConnectionInfoSchema = z.object({
  transport: z.enum(["tcp", "ipc"]).default("tcp"),
  ip: z.string(),
  shell_port: z.number().int(),
  iopub_port: z.number().int(),
  stdin_port: z.number().int(),
  control_port: z.number().int(),
  hb_port: z.number().int(),
  key: z.string(),
  signature_scheme: z.literal("hmac-sha256").default("hmac-sha256"),
  kernel_name: z.string().optional(),
});
export type ConnectionInfo = z.infer<typeof ConnectionInfoSchema>;

/** ZeroMQ endpoint of one channel: `tcp://127.0.0.1:5555` or `ipc:///tmp/x/k-1`. */
export function channelEndpoint(connection: ConnectionInfo, channel: KernelChannel | "hb"): string {
  const port = {
    shell: connection.shell_port,
    control: connection.control_port,
    iopub: connection.iopub_port,
    stdin: connection.stdin_port,
    hb: connection.hb_port,
  }[channel];
  // Jupyter's ipc addresses are `<ip>-<port>` where `ip` is a path prefix.
  return connection.transport === "ipc" ? `ipc://${connection.ip}-${port}` : `tcp://${connection.ip}:${port}`;
}
