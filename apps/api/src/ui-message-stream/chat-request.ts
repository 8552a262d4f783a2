import { z } from "@hono/zod-openapi";
import { ApiError } from "../errors.js";
import { checkUploadName, saveUpload } from "../files.js";

const MessagePartSchema = z.looseObject({ type: z.string() });

/**
 * The body `useChat` (the AI SDK's default chat transport) sends: the chat id, every message of
 * the chat, and why it sends them. Extra fields (a transport's `body` option) are allowed.
 */
export const ChatRequestSchema = z
  .looseObject({
    id: z.string().optional(),
    messages: z
      .array(
        z.looseObject({
          id: z.string().optional(),
          role: z.enum(["system", "user", "assistant"]),
          parts: z.array(MessagePartSchema),
        }),
      )
      .min(1),
    trigger: z.enum(["submit-message", "regenerate-message"]).optional(),
    messageId: z.string().optional(),
  })
  .openapi("ChatRequest", {
    description:
      "The AI SDK's chat request. The last user message is the new message: its text parts are joined, its file " +
      "parts (data URLs, or URLs of this session's file route) are attached. Earlier messages are already in the session.",
  });

export type ChatRequest = z.infer<typeof ChatRequestSchema>;

/** The new message of a chat request: its text, and its file parts. */
export interface ChatMessage {
  text: string;
  files: { url: string; filename: string | undefined; mediaType: string | undefined }[];
}

/** The last user message's text and files (422 when there is no user message). */
export function lastUserMessage(request: ChatRequest, maxMessageChars: number): ChatMessage {
  const message = request.messages.findLast((item) => item.role === "user");
  if (!message) {
    throw new ApiError(
      422,
      "validation_failed",
      'Invalid request body: messages: no message with role "user".',
      {
        details: [{ field: "messages", message: 'no message with role "user"' }],
      },
    );
  }
  const texts: string[] = [];
  const files: ChatMessage["files"] = [];
  for (const part of message.parts) {
    if (part.type === "text" && typeof part.text === "string") texts.push(part.text);
    else if (part.type === "file" && typeof part.url === "string") {
      files.push({
        url: part.url,
        filename: typeof part.filename === "string" ? part.filename : undefined,
        mediaType: typeof part.mediaType === "string" ? part.mediaType : undefined,
      });
    }
  }
  const text = texts.join("\n").trim();
  if (text === "") {
    throw new ApiError(422, "validation_failed", "Invalid request body: the last user message has no text.", {
      details: [{ field: "messages", message: "the last user message has no text part" }],
    });
  }
  if (text.length > maxMessageChars) {
    throw new ApiError(
      422,
      "message_too_long",
      `Invalid request body: the message is longer than ${maxMessageChars} characters.`,
      { details: [{ field: "messages", message: `longer than ${maxMessageChars} characters` }] },
    );
  }
  return { text, files };
}

/** An answer to an approval request, as `useChat`'s `addToolApprovalResponse` records it. */
export interface ChatApprovalResponse {
  approvalId: string;
  approved: boolean;
  reason: string | undefined;
}

/**
 * The approval answers the request carries: tool parts in state `approval-responded` of the last
 * message when it is the assistant's (what `useChat` sends after `addToolApprovalResponse`,
 * e.g. with `sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses`).
 * Empty for an ordinary message.
 */
export function approvalResponses(request: ChatRequest): ChatApprovalResponse[] {
  const last = request.messages.at(-1);
  if (last?.role !== "assistant") return [];
  const responses: ChatApprovalResponse[] = [];
  for (const part of last.parts) {
    if (!part.type.startsWith("tool-") || part.state !== "approval-responded") continue;
    const approval = part.approval as { id?: unknown; approved?: unknown; reason?: unknown } | undefined;
    if (typeof approval?.id !== "string" || typeof approval.approved !== "boolean") {
      throw new ApiError(422, "validation_failed", "Invalid request body: an approval-responded tool part needs approval.id and approval.approved.", {
        details: [{ field: "messages.parts.approval", message: "expected {id: string, approved: boolean, reason?: string}" }],
      });
    }
    responses.push({
      approvalId: approval.id,
      approved: approval.approved,
      reason: typeof approval.reason === "string" && approval.reason.trim() !== "" ? approval.reason : undefined,
    });
  }
  return responses;
}

const DATA_URL = /^data:([^,]*?)(;base64)?,(.*)$/s;

/**
 * Puts the message's files into the session's working directory and returns their names: a
 * data URL is saved under its file name; a URL of this session's own file route names a file
 * already there. Anything else is refused (422): the server fetches nothing from elsewhere.
 */
export async function attachChatFiles(
  sessionId: string,
  workingDirectory: string,
  files: ChatMessage["files"],
): Promise<string[]> {
  const routePrefix = `/api/v1/sessions/${encodeURIComponent(sessionId)}/files/`;
  const decoded: { name: string; data?: Uint8Array }[] = [];
  // Every file is checked before anything is written, so a bad request stores nothing.
  for (const [index, file] of files.entries()) {
    const data = DATA_URL.exec(file.url);
    if (data) {
      const name = checkUploadName(file.filename ?? `attachment-${index + 1}${extensionFor(data[1] ?? "")}`);
      const payload = data[3] ?? "";
      const bytes = data[2]
        ? new Uint8Array(Buffer.from(payload, "base64"))
        : new TextEncoder().encode(decodeURIComponent(payload));
      decoded.push({ name, data: bytes });
      continue;
    }
    let pathname: string | undefined;
    try {
      pathname = new URL(file.url, "http://relative.invalid").pathname;
    } catch {
      pathname = undefined;
    }
    if (!pathname?.startsWith(routePrefix) || pathname.length === routePrefix.length) {
      throw new ApiError(
        422,
        "validation_failed",
        `Invalid request body: file ${index + 1} is neither a data URL nor a URL of this session's files (${routePrefix}<name>).`,
        { details: [{ field: `messages.parts.file.${index}`, message: "unsupported file URL" }] },
      );
    }
    decoded.push({ name: pathname.slice(routePrefix.length).split("/").map(decodeURIComponent).join("/") });
  }
  const names: string[] = [];
  for (const item of decoded) {
    if (item.data) await saveUpload(workingDirectory, item.name, item.data);
    names.push(item.name);
  }
  return names;
}

const EXTENSIONS: Record<string, string> = {
  "text/csv": ".csv",
  "text/plain": ".txt",
  "application/json": ".json",
  "image/png": ".png",
  "image/jpeg": ".jpg",
  "application/pdf": ".pdf",
};

function extensionFor(mediaType: string): string {
  return EXTENSIONS[mediaType.split(";")[0]!.trim().toLowerCase()] ?? "";
}
