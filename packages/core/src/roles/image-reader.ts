import { readFile, stat } from "node:fs/promises";
import { extname, isAbsolute, resolve } from "node:path";
import { AbortedError, FileAccessError } from "../errors.js";
import type { ChatContentPart, LanguageModel } from "../llm/types.js";
import type { Post } from "../memory/types.js";
import { describeModelRetry } from "../model-calls/model-answer.js";
import type { Role, RoleContext } from "./role.js";
import { traceChat } from "../tracing/chat-span.js";

export const IMAGE_READER_ALIAS = "ImageReader";

const MIME_TYPES: Record<string, string> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".bmp": "image/bmp",
};

export interface ImageReaderOptions {
  model: LanguageModel;
  /** The host folder relative image paths are read from: the session's working directory. */
  workingDirectory: (sessionId: string) => string;
  /**
   * Reads a file of the working directory through the kernel, for runtimes whose files the
   * host cannot see (remote Jupyter). Used only when a relative path is not found on the host.
   */
  downloadFile?: (name: string) => Promise<Uint8Array>;
  /**
   * Largest image file sent to the model, in bytes; larger ones are refused with a message.
   * @default 20 MiB (the common limit of vision APIs)
   */
  maxImageBytes?: number;
  /** @default ImageReader */
  alias?: string;
}

/**
 * Image references in a message: quoted or backticked paths first (they may hold spaces),
 * then bare tokens, then Markdown images. Only names with an image extension count;
 * `http(s)` URLs are kept as they are.
 */
export function findImageReferences(message: string): string[] {
  const extensions = "png|jpe?g|gif|webp|bmp";
  const found: string[] = [];
  const add = (value: string) => {
    const cleaned = value.trim().replace(/[.,;:!?]+$/, "");
    if (cleaned && !found.includes(cleaned)) found.push(cleaned);
  };
  const quoted = new RegExp(`["'\`]([^"'\`\\n]+\\.(?:${extensions}))["'\`]`, "gi");
  const markdown = new RegExp(`!\\[[^\\]]*\\]\\(([^)\\s]+\\.(?:${extensions}))\\)`, "gi");
  let rest = message;
  for (const pattern of [quoted, markdown]) {
    for (const match of rest.matchAll(pattern)) add(match[1]!);
    rest = rest.replace(pattern, " ");
  }
  const bare = new RegExp(`(?:https?://)?[^\\s"'\`<>()\\[\\],;]+\\.(?:${extensions})(?![\\w])`, "gi");
  for (const match of rest.matchAll(bare)) add(match[0]);
  return found;
}

const SYSTEM_PROMPT = `You are the ImageReader of TaskWeaver. You receive images together with a request about them. Look at each image and answer the request precisely: describe what is shown, read out any text, numbers, axes and labels, and say which image you mean when there are several. Say plainly when something is unreadable instead of guessing.`;

/**
 * A worker that looks at images (`session.roles` name `image_reader`): it finds the image
 * files named in the message it gets (relative to the session's working directory, or
 * absolute), sends them inline to the model with the request, and replies with the model's
 * answer.
 */
export function createImageReader(options: ImageReaderOptions): Role {
  const alias = options.alias ?? IMAGE_READER_ALIAS;
  const maxBytes = options.maxImageBytes ?? 20 * 1024 * 1024;

  /** The image's bytes, or only its size when it is over the limit (so it is never read whole). */
  async function readImage(path: string, relativeName: string | undefined): Promise<{ data?: Uint8Array; size: number }> {
    try {
      const info = await stat(path);
      if (!info.isFile()) throw new FileAccessError("file_not_found", `${path} is not a file`);
      if (info.size > maxBytes) return { size: info.size };
      const data = await readFile(path);
      return { data, size: data.length };
    } catch (error) {
      if (relativeName === undefined || !options.downloadFile) throw error;
      const data = await options.downloadFile(relativeName);
      return data.length > maxBytes ? { size: data.length } : { data, size: data.length };
    }
  }
  return {
    alias,
    description:
      "Looks at images and answers questions about them (what a chart shows, text in a picture). " +
      "Name the image files in your message: paths relative to the working directory, absolute paths or http(s) URLs.",
    async reply(context: RoleContext): Promise<Post> {
      const builder = context.startPost();
      builder.setRecipient(context.incoming.send_from);
      const references = findImageReferences(context.incoming.message);
      if (references.length === 0) {
        builder.setMessage("I found no image in your message. Name the image files (for example chart.png) and ask again.");
        return builder.end();
      }

      builder.status("reading images");
      const workingDirectory = options.workingDirectory(context.sessionId);
      const parts: ChatContentPart[] = [{ type: "text", text: context.incoming.message }];
      const problems: string[] = [];
      for (const reference of references) {
        if (/^https?:\/\//i.test(reference)) {
          parts.push({ type: "image_url", image_url: { url: reference } });
          builder.addAttachment("image_url", reference);
          continue;
        }
        const path = isAbsolute(reference) ? reference : resolve(workingDirectory, reference);
        const mimeType = MIME_TYPES[extname(path).toLowerCase()];
        try {
          const { data, size } = await readImage(path, isAbsolute(reference) ? undefined : reference);
          if (!data) {
            problems.push(`${reference} is too large (${size} bytes; the limit is ${maxBytes})`);
            continue;
          }
          parts.push({ type: "text", text: `Image ${reference}:` });
          parts.push({ type: "image_url", image_url: { url: `data:${mimeType ?? "application/octet-stream"};base64,${Buffer.from(data).toString("base64")}` } });
          builder.addAttachment("image_url", reference, { path, mime_type: mimeType, bytes: data.length });
        } catch {
          problems.push(`${reference} was not found`);
        }
      }
      const missing = problems.length > 0 ? `Not read: ${problems.join("; ")}.` : "";
      if (parts.length === 1) {
        builder.setMessage(`I could not read any of the images. ${missing}`);
        return builder.end();
      }

      builder.status("calling the model");
      let answered = false;
      for await (const part of traceChat(options.model, {
        messages: [
          { role: "system", content: SYSTEM_PROMPT },
          { role: "user", content: parts },
        ],
        responseFormat: "text",
        signal: context.signal,
        tag: alias,
        onRetry: (info) => builder.status(describeModelRetry(info)),
      })) {
        if (context.signal.aborted) throw new AbortedError();
        if (part.type === "text-delta" && part.text !== "") {
          answered = true;
          builder.messageDelta(part.text);
        }
      }
      if (!answered) builder.messageDelta("The model gave no answer about the images.");
      if (missing) builder.messageDelta(`\n\n${missing}`);
      return builder.end();
    },
  };
}
