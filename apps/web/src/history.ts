// A session's stored rounds as the chat messages the live stream would have built, so that a
// loaded session and a streamed round render through the same parts.
import type { UIMessage } from "ai";
import { fileUrl, type StoredPost, type StoredRound } from "./api-client.js";

/** The data parts of the playground's messages. */
export type PlaygroundDataParts = {
  /** The role's current activity (transient on the live stream). */
  status: { role: string; status: string };
  /** A stored round that failed (live rounds report it as the chat's error). */
  "round-error": { message: string };
};

/** The `python` tool: code in, the result text out. */
export type PlaygroundTools = {
  python: { input: { code: string }; output: string };
};

export type PlaygroundMessage = UIMessage<unknown, PlaygroundDataParts, PlaygroundTools>;
export type PlaygroundPart = PlaygroundMessage["parts"][number];

/** Attachments shown as reasoning, as the server's stream does. */
const REASONING_TYPES = new Set(["plan_reasoning", "init_plan", "plan", "current_plan_step", "thought"]);

const MEDIA_TYPES: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  svg: "image/svg+xml",
  webp: "image/webp",
  html: "text/html",
  htm: "text/html",
  csv: "text/csv",
  txt: "text/plain",
  json: "application/json",
};

export function mediaTypeFor(name: string): string {
  const extension = name.slice(name.lastIndexOf(".") + 1).toLowerCase();
  return MEDIA_TYPES[extension] ?? "application/octet-stream";
}

function toolPart(
  tool: { toolCallId: string; code: string },
  outcome: "output" | "error",
  text: string,
): PlaygroundPart {
  const base = { type: "tool-python" as const, toolCallId: tool.toolCallId, input: { code: tool.code } };
  return outcome === "output"
    ? { ...base, state: "output-available", output: text }
    : { ...base, state: "output-error", errorText: text };
}

function postParts(sessionId: string, post: StoredPost, userAlias: string): PlaygroundPart[] {
  const parts: PlaygroundPart[] = [{ type: "step-start" }];
  let replyType = "";
  let status = "";
  let tool: { index: number; toolCallId: string; code: string } | undefined;
  for (const attachment of post.attachment_list) {
    const { type, content, id } = attachment;
    if (REASONING_TYPES.has(type)) {
      if (content !== "")
        parts.push({
          type: "reasoning",
          text: content,
          state: "done",
          providerMetadata: { taskweaver: { attachmentType: type, role: post.send_from } },
        });
      continue;
    }
    switch (type) {
      case "reply_type":
        replyType = content.trim();
        break;
      case "reply_content":
        if (replyType === "python") {
          tool = { index: parts.length, toolCallId: id, code: content };
          parts.push(toolPart(tool, "error", "The code did not finish."));
        } else if (content !== "") {
          parts.push({
            type: "reasoning",
            text: content,
            state: "done",
            providerMetadata: { taskweaver: { attachmentType: "reply_content", role: post.send_from } },
          });
        }
        break;
      case "code_error":
        if (tool)
          parts[tool.index] = toolPart(
            tool,
            "error",
            `The code was not run because it breaks these rules:\n${content}`,
          );
        break;
      case "execution_status":
        status = content;
        break;
      case "execution_result":
        if (tool) parts[tool.index] = toolPart(tool, status === "SUCCESS" ? "output" : "error", content);
        parts.push(...htmlDisplayParts(attachment.extra));
        break;
      case "artifact_paths":
        parts.push(...artifactParts(sessionId, content, attachment.extra));
        break;
      default:
        break;
    }
  }
  if (post.send_to === userAlias && post.message !== "")
    parts.push({ type: "text", text: post.message, state: "done" });
  return parts;
}

/** A DataFrame's rich HTML kept with the result, as the live stream sends it: HTML file parts. */
function htmlDisplayParts(extra: unknown): PlaygroundPart[] {
  const html = (extra as { html?: unknown } | undefined)?.html;
  if (!Array.isArray(html)) return [];
  return html
    .filter((text): text is string => typeof text === "string")
    .map((text) => ({ type: "file", url: htmlDataUrl(text), mediaType: "text/html" }));
}

function htmlDataUrl(html: string): string {
  const bytes = new TextEncoder().encode(html);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `data:text/html;base64,${btoa(binary)}`;
}

function artifactParts(sessionId: string, content: string, extra: unknown): PlaygroundPart[] {
  const artifacts = (extra as { artifacts?: { path: string; mimeType?: string }[] } | undefined)?.artifacts;
  let files: { path: string; mediaType: string }[] = [];
  if (Array.isArray(artifacts)) {
    files = artifacts.map((artifact) => ({
      path: artifact.path,
      mediaType: artifact.mimeType || mediaTypeFor(artifact.path),
    }));
  } else {
    try {
      const paths: unknown = JSON.parse(content);
      if (Array.isArray(paths))
        files = paths
          .filter((path): path is string => typeof path === "string")
          .map((path) => ({ path, mediaType: mediaTypeFor(path) }));
    } catch {
      // A malformed list shows nothing rather than breaking the page.
    }
  }
  return files.map((file) => ({
    type: "file",
    url: fileUrl(sessionId, file.path),
    mediaType: file.mediaType,
  }));
}

/**
 * The messages of a session's stored rounds. A round still running gets only its user message:
 * the resumed stream replays the round from its start and builds the answer.
 */
export function messagesFromRounds(
  sessionId: string,
  rounds: readonly StoredRound[],
  userAlias = "User",
): PlaygroundMessage[] {
  const messages: PlaygroundMessage[] = [];
  for (const round of rounds) {
    messages.push({
      id: `${round.id}-user`,
      role: "user",
      parts: [{ type: "text", text: round.user_query }],
    });
    if (round.state === "created") continue;
    const parts = round.post_list.flatMap((post) => postParts(sessionId, post, userAlias));
    if (round.state === "failed" && round.error)
      parts.push({ type: "data-round-error", data: { message: round.error.message } });
    messages.push({ id: round.id, role: "assistant", parts });
  }
  return messages;
}
