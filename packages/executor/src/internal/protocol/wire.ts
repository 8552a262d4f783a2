import { createHmac, timingSafeEqual } from "node:crypto";
import { TaskWeaverError } from "@taskweaver/core";
import { JupyterMessageSchema, type JupyterMessage } from "./messages.js";

/** Separates routing identities from the message parts in a ZeroMQ multipart message. */
export const DELIMITER = "<IDS|MSG>";
const delimiterBuffer = Buffer.from(DELIMITER);

const wireFormatErrorMarker = Symbol.for("taskweaver.error.WireFormatError");

/** A message could not be decoded: bad framing, bad signature or bad JSON. */
export class WireFormatError extends TaskWeaverError {
  private readonly [wireFormatErrorMarker] = true;
  constructor(message: string) {
    super("kernel_message_invalid", message);
  }

  static override isInstance(value: unknown): value is WireFormatError {
    return TaskWeaverError.hasMarker(value, wireFormatErrorMarker);
  }
}

/** Signs and verifies the four JSON parts with HMAC-SHA256, as the connection file's `key` requires. */
export interface MessageSigner {
  sign(parts: readonly (string | Uint8Array)[]): string;
  verify(signature: string | Uint8Array, parts: readonly (string | Uint8Array)[]): boolean;
}

/** An empty key means "unsigned" in Jupyter: signatures are empty and not checked. */
export function createMessageSigner(key: string): MessageSigner {
  const keyBuffer = Buffer.from(key, "utf8");
  const sign = (parts: readonly (string | Uint8Array)[]): string => {
    if (keyBuffer.length === 0) return "";
    const hmac = createHmac("sha256", keyBuffer);
    for (const part of parts) hmac.update(part);
    return hmac.digest("hex");
  };
  return {
    sign,
    verify(signature, parts) {
      if (keyBuffer.length === 0) return true;
      const expected = Buffer.from(sign(parts), "latin1");
      const actual =
        typeof signature === "string" ? Buffer.from(signature, "latin1") : Buffer.from(signature);
      return actual.length === expected.length && timingSafeEqual(actual, expected);
    },
  };
}

/** Encodes a message into ZeroMQ frames: [delimiter, signature, header, parent, metadata, content, ...buffers]. */
export function encodeMessage(message: JupyterMessage, signer: MessageSigner): (string | Uint8Array)[] {
  const parts = [
    JSON.stringify(message.header),
    JSON.stringify(message.parent_header),
    JSON.stringify(message.metadata),
    JSON.stringify(message.content),
  ];
  return [DELIMITER, signer.sign(parts), ...parts, ...(message.buffers ?? [])];
}

/**
 * Decodes ZeroMQ frames into a message, checking the signature over the raw bytes before any
 * JSON parsing. Throws WireFormatError on a missing delimiter, a bad signature or malformed parts.
 */
export function decodeMessage(frames: readonly Buffer[], signer: MessageSigner): JupyterMessage {
  let index = 0;
  while (index < frames.length && !frames[index]!.equals(delimiterBuffer)) index += 1;
  if (index >= frames.length || frames.length < index + 6) {
    throw new WireFormatError(
      `Malformed kernel message: ${frames.length} frames without a complete <IDS|MSG> section.`,
    );
  }
  const signature = frames[index + 1]!;
  const parts: [Buffer, Buffer, Buffer, Buffer] = [
    frames[index + 2]!,
    frames[index + 3]!,
    frames[index + 4]!,
    frames[index + 5]!,
  ];
  if (!signer.verify(signature, parts)) {
    throw new WireFormatError("Kernel message rejected: HMAC signature does not match the connection key.");
  }
  let raw: unknown;
  try {
    raw = {
      header: JSON.parse(parts[0].toString("utf8")),
      parent_header: JSON.parse(parts[1].toString("utf8")),
      metadata: JSON.parse(parts[2].toString("utf8")),
      content: JSON.parse(parts[3].toString("utf8")),
    };
  } catch (error) {
    throw new WireFormatError(`Kernel message is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = JupyterMessageSchema.safeParse(raw);
  if (!parsed.success)
    throw new WireFormatError(`Kernel message has an invalid envelope: ${parsed.error.message}`);
  const message: JupyterMessage = parsed.data;
  if (frames.length > index + 6) message.buffers = frames.slice(index + 6);
  return message;
}
