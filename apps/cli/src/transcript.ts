import { createInterface } from "node:readline";
import type { Round } from "@taskweaver/core";
import type { ChatApp, ChatSession } from "./app-types.js";
import { HUMAN_PREFIX, renderOpening } from "./banner.js";
import { watchPluginProblems } from "./plugin-notices.js";
import { createTranscriptWriter } from "./render/transcript-writer.js";
import { renderRoundError } from "./render/text.js";
import { roundErrorMessage, type DemoContext } from "./round-errors.js";

/** Options of {@link runTranscript}. */
export interface TranscriptOptions {
  app: ChatApp;
  /** One user message per line. */
  input: NodeJS.ReadableStream;
  /** Where the transcript goes (stdout). */
  output: { write(text: string): unknown };
  /** Where warnings go, e.g. a plugin that could not be loaded (stderr). @default `output` */
  warnings?: { write(text: string): unknown };
  /** Files attached to the first request (the demo's data). */
  firstMessageFiles?: { name: string; path: string }[];
  /** A line shown under the greeting, e.g. that this is a replay. */
  notice?: string;
  /** Set in `--demo`: a request the recording does not know is explained, not shown as a cache miss. */
  demo?: DemoContext;
  /**
   * Aborting interrupts the running round and stops reading input (Ctrl-C).
   * The result is then 130, the shell's code for an interrupted command.
   */
  signal?: AbortSignal;
  /**
   * `--yes`: approve every execution that asks for approval. Without it such code is rejected
   * (the transcript cannot ask), and the model is told so. @default false
   */
  approveAll?: boolean;
}

const approveEverything = () => ({ decision: "approve" as const });

/** Exit code when the input was interrupted with Ctrl-C. */
export const EXIT_INTERRUPTED = 130;

/**
 * The plain console: reads one request per line, prints the classic transcript while each
 * round streams, and resolves with the exit code: 0 when every round finished, 1 otherwise.
 */
export async function runTranscript(options: TranscriptOptions): Promise<number> {
  const { app, output } = options;
  const write = (text: string) => {
    output.write(text);
  };
  let session: ChatSession | undefined;
  let stopWatching: (() => void) | undefined;
  let allFinished = true;
  let firstFiles = options.firstMessageFiles;
  const onAbort = () => {
    void session?.interrupt();
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const lines = createInterface({ input: options.input, crlfDelay: Infinity });
  // Take the iterator at once: lines that arrive while the session starts are buffered by it,
  // where a later `for await` would miss them.
  const pending = lines[Symbol.asyncIterator]();
  try {
    session = await app.createSession();
    const warnings = options.warnings ?? output;
    stopWatching = watchPluginProblems(session, (line) => warnings.write(`warning: ${line}\n`));
    write(renderOpening());
    if (options.notice) write(`${options.notice}\n`);
    for await (const line of { [Symbol.asyncIterator]: () => pending }) {
      if (options.signal?.aborted) break;
      const message = line.trim();
      if (message === "") continue;
      write(`${HUMAN_PREFIX}${message}\n`);
      const writer = createTranscriptWriter({ write });
      let round: Round | undefined;
      const files = firstFiles;
      firstFiles = undefined;
      try {
        round = await session.sendMessage(message, {
          onEvent: (event) => {
            if (event.type !== "round-error") return writer.handle(event);
            // The session sets lastError before it sends round-error: the typed error.
            const message = roundErrorMessage(session?.lastError, event.error.message, options.demo);
            writer.handle({ ...event, error: { ...event.error, message } });
          },
          ...(files && files.length > 0 ? { files } : {}),
          ...(options.approveAll ? { approveExecution: approveEverything } : {}),
        });
      } catch (error) {
        write(renderRoundError(error instanceof Error ? error.message : String(error)));
        allFinished = false;
        continue;
      }
      if (round.state !== "finished") {
        allFinished = false;
        if (!writer.errorShown) write(renderRoundError("The round did not finish."));
      }
      if (options.signal?.aborted) break;
    }
  } finally {
    stopWatching?.();
    options.signal?.removeEventListener("abort", onAbort);
    lines.close();
    await app.close();
  }
  if (options.signal?.aborted) return EXIT_INTERRUPTED;
  return allFinished ? 0 : 1;
}
