import type { Artifact, ExecutionOutput, RichDisplay } from "@taskweaver/core";
import { z } from "zod";
import { stripAnsi } from "./ansi.js";
import type { KernelOutput } from "./protocol/messages.js";
import { EVENT_MIME } from "./support-code.js";

const ArtifactEventSchema = z.object({
  kind: z.literal("artifact"),
  name: z.string(),
  type: z.enum(["image", "chart", "df", "file", "txt", "svg", "html"]),
  mime_type: z.string(),
  path: z.string(),
  description: z.string().default(""),
});
const LogEventSchema = z.object({ kind: z.literal("log"), level: z.string(), message: z.string() });
const OutputDroppedEventSchema = z.object({
  kind: z.literal("output_dropped"),
  stdout: z.number().int().min(0),
  stderr: z.number().int().min(0),
});
const SupportEventSchema = z.discriminatedUnion("kind", [
  ArtifactEventSchema,
  LogEventSchema,
  OutputDroppedEventSchema,
]);

const IMAGE_EXTENSIONS: Record<string, string> = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/gif": "gif",
  "image/svg+xml": "svg",
};

/** Options of an `ExecutionCollector`. */
export interface ExecutionCollectorOptions {
  executionId: string;
  /** Characters of stdout+stderr kept; the rest is counted and dropped as it arrives. */
  maxOutputChars: number;
  onOutput?: (output: ExecutionOutput) => void;
  /**
   * Saves an image that the code displayed (e.g. `display(Image(...))`) in the working directory.
   * Absent when the runtime cannot write there; the image then stays in `displays` only.
   */
  saveFile?: (name: string, data: Uint8Array) => Promise<unknown>;
}

/**
 * Turns the iopub output of one execution into the parts of an `ExecutionResult`. Output over
 * the limit is dropped as it arrives (only counted), so printing 10 MB costs no 10 MB of memory.
 */
export class ExecutionCollector {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly displays: RichDisplay[] = [];
  readonly artifacts: Artifact[] = [];
  readonly log: { level: string; message: string }[] = [];
  readonly notes: string[] = [];
  output = "";
  error: { name: string; value: string; traceback: string } | undefined;
  private keptChars = 0;
  private droppedChars = { stdout: 0, stderr: 0 };
  private imageCount = 0;
  private readonly pendingWrites: Promise<void>[] = [];

  constructor(private readonly options: ExecutionCollectorOptions) {}

  /** A throwing listener (a UI bug) must not lose the execution's output. */
  private emit(output: ExecutionOutput): void {
    try {
      this.options.onOutput?.(output);
    } catch {
      // Ignored on purpose: the result still carries the output.
    }
  }

  /** Handles one output message; bound so it can be passed as a callback. */
  readonly handle = (output: KernelOutput): void => {
    switch (output.type) {
      case "stream":
        this.handleStream(output.content.name, output.content.text);
        return;
      case "error":
        this.error = {
          name: output.content.ename,
          value: output.content.evalue,
          traceback: stripAnsi(output.content.traceback.join("\n")),
        };
        return;
      case "execute_result":
      case "display_data":
        this.handleDisplay(output.content.data, output.type === "execute_result");
        return;
    }
  };

  private cutNoticeShown = false;

  private showCutNotice(): void {
    if (this.cutNoticeShown) return;
    this.cutNoticeShown = true;
    this.emit({
      stream: "stderr",
      text: `\n[output beyond ${this.options.maxOutputChars} characters is not shown]\n`,
    });
  }

  private handleStream(stream: "stdout" | "stderr", raw: string): void {
    // `!command` output comes through a pseudo-terminal with CRLF line ends.
    const text = raw.includes("\r\n") ? raw.replace(/\r\n/g, "\n") : raw;
    const room = this.options.maxOutputChars - this.keptChars;
    if (room <= 0) {
      this.droppedChars[stream] += text.length;
      return;
    }
    const kept = text.length <= room ? text : text.slice(0, room);
    if (kept.length < text.length) {
      this.droppedChars[stream] += text.length - kept.length;
      this.emit({ stream, text: kept });
      this.showCutNotice();
    } else {
      this.emit({ stream, text: kept });
    }
    this.keptChars += kept.length;
    (stream === "stdout" ? this.stdout : this.stderr).push(kept);
  }

  private handleDisplay(bundle: Record<string, unknown>, isResult: boolean): void {
    const event = bundle[EVENT_MIME];
    if (event !== undefined) {
      this.handleSupportEvent(event);
      return;
    }
    const data: Record<string, string> = {};
    for (const [mimeType, value] of Object.entries(bundle)) {
      data[mimeType] = typeof value === "string" ? value : JSON.stringify(value);
    }
    if (isResult) this.output = data["text/plain"] ?? "";
    this.displays.push({ data });
    for (const [mimeType, extension] of Object.entries(IMAGE_EXTENSIONS)) {
      const content = data[mimeType];
      if (content !== undefined) {
        this.saveImage(mimeType, extension, content);
        break;
      }
    }
  }

  private saveImage(mimeType: string, extension: string, content: string): void {
    const save = this.options.saveFile;
    if (save === undefined) return;
    this.imageCount += 1;
    const name = `image_${this.imageCount}`;
    const path = `${this.options.executionId}-${name}.${extension}`;
    const bytes =
      mimeType === "image/svg+xml" ? Buffer.from(content, "utf8") : Buffer.from(content, "base64");
    this.pendingWrites.push(
      save(path, bytes).then(
        () => {
          this.artifacts.push({
            name,
            type: mimeType === "image/svg+xml" ? "svg" : "image",
            mimeType,
            path,
            description: `${mimeType === "image/svg+xml" ? "SVG image" : "image"} displayed by the code`,
          });
        },
        (error: unknown) => {
          this.notes.push(`An image the code displayed could not be saved: ${(error as Error).message}`);
        },
      ),
    );
  }

  private handleSupportEvent(value: unknown): void {
    const parsed = SupportEventSchema.safeParse(typeof value === "string" ? safeJson(value) : value);
    if (!parsed.success) return;
    const event = parsed.data;
    if (event.kind === "log") {
      this.log.push({ level: event.level, message: event.message });
    } else if (event.kind === "output_dropped") {
      // The kernel already cut what went over the limit; count it as if we had.
      this.droppedChars.stdout += event.stdout;
      this.droppedChars.stderr += event.stderr;
      this.showCutNotice();
    } else {
      this.artifacts.push({
        name: event.name,
        type: event.type,
        mimeType: event.mime_type,
        path: event.path,
        description: event.description,
      });
    }
  }

  /** Waits for image files being written and adds the note about cut output. */
  async finish(): Promise<void> {
    await Promise.all(this.pendingWrites);
    const { stdout, stderr } = this.droppedChars;
    if (stdout + stderr > 0) {
      const parts = [
        stdout > 0 ? `${stdout} characters of stdout` : "",
        stderr > 0 ? `${stderr} characters of stderr` : "",
      ]
        .filter(Boolean)
        .join(" and ");
      this.notes.push(
        `Output was cut: only the first ${this.options.maxOutputChars} characters were kept; ${parts} were dropped.`,
      );
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
