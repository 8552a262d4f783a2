import { AbortedError, LlmResponseError, toTaskWeaverError, type TaskWeaverError } from "../errors.js";
import type { LanguageModel } from "../llm/types.js";
import type { Round } from "../memory/types.js";
import { fieldText, requestModelAnswer } from "../model-calls/model-answer.js";

export interface RoundCompressorOptions {
  /** Writes the summaries. */
  model: LanguageModel;
  /** Rounds summarised at a time, beyond those retained (`round_compressor.rounds_to_compress`). @default 2 */
  roundsToCompress?: number;
  /** Most recent rounds always kept whole (`round_compressor.rounds_to_retain`). @default 3 */
  roundsToRetain?: number;
  /**
   * Renders rounds as the text to summarise, in the shape the role's prompt uses (so the
   * summary keeps what that role needs), e.g. `formatRoundsAsText`.
   */
  format: (rounds: readonly Round[]) => string;
  /** Told about a summary that failed (the full history is used instead). */
  onError?: (error: TaskWeaverError) => void;
  /** @default the JSON answer format */
  responseFormat?: "json_object" | "json_schema" | "text";
  /** Usage tag of the summary calls. @default "compression" */
  tag?: string;
}

/** The history to put in a prompt. */
export interface CompressedHistory {
  /** Summary of the rounds before `recentRounds`, or `undefined` when nothing is summarised. */
  summary: string | undefined;
  /** The rounds to show in full, oldest first. */
  recentRounds: Round[];
}

export interface RoundCompressor {
  /**
   * The history for a prompt: once `roundsToCompress + roundsToRetain` rounds have gathered
   * beyond the summarised ones, the older ones are folded into the running summary with the
   * model, and the last `roundsToRetain` stay whole. Never throws for a failed summary (the
   * full history comes back instead); throws `AbortedError` when the signal aborts.
   */
  compress(rounds: readonly Round[], options?: { signal?: AbortSignal }): Promise<CompressedHistory>;
}

const SUMMARY_SCHEMA: Record<string, unknown> = {
  type: "object",
  additionalProperties: false,
  required: ["summary"],
  properties: { summary: { type: "string" } },
};

const SUMMARY_PROMPT = `You keep a running summary of a conversation between a user and TaskWeaver, an assistant that analyses data by writing and running code. The summary replaces the older part of the conversation in later prompts, so it must keep everything that may matter again: what the user asked and decided, file names, variable and column names that exist in the session, results and numbers found, and what failed. Leave out greetings, retries that led nowhere and long outputs.

You get the summary so far (it may be empty) and the rounds that follow it. Merge them into one updated summary, in short sentences or bullet points.

Reply with one JSON object and nothing else:
{"summary": "<the updated summary>"}`;

/**
 * Keeps long conversations within a prompt by summarising old rounds (TaskWeaver's prompt
 * compression). One compressor per role and session: it remembers the summary and the last
 * round it covers, so each round is summarised once.
 */
export function createRoundCompressor(options: RoundCompressorOptions): RoundCompressor {
  const toCompress = Math.max(1, options.roundsToCompress ?? 2);
  const toRetain = Math.max(1, options.roundsToRetain ?? 3);
  let summary: string | undefined;
  /** Id of the last round folded into `summary`. */
  let coveredUntil: string | undefined;
  /** Last round of a summary attempt that failed: not tried again until more rounds arrive. */
  let failedAt: string | undefined;

  async function summarise(previous: string | undefined, rounds: readonly Round[], signal: AbortSignal | undefined): Promise<string> {
    const answer = await requestModelAnswer(
      options.model,
      {
        messages: [
          { role: "system", content: SUMMARY_PROMPT },
          {
            role: "user",
            content: `Summary so far:\n${previous ?? "(empty)"}\n\nRounds that follow:\n${options.format(rounds)}`,
          },
        ],
        responseFormat: options.responseFormat ?? "json_object",
        jsonSchema: { name: "conversation_summary", schema: SUMMARY_SCHEMA },
        signal,
        tag: options.tag ?? "compression",
      },
      () => {},
    );
    const text = answer.parseError
      ? answer.text.replace(/<think>[\s\S]*?<\/think>/g, "").trim()
      : fieldText(answer.fields, "summary")?.trim();
    // A JSON answer without the field, or nothing at all, is not a summary.
    if (!text || (answer.parseError && text.startsWith("{"))) {
      throw new LlmResponseError(`the model's summary was empty or unusable: ${answer.text.slice(0, 200)}`);
    }
    return text;
  }

  return {
    async compress(rounds, compressOptions = {}) {
      const signal = compressOptions.signal;
      const coveredIndex = coveredUntil === undefined ? -1 : rounds.findIndex((round) => round.id === coveredUntil);
      if (coveredUntil !== undefined && coveredIndex === -1) {
        // The history changed under us (another conversation, rounds dropped): start over.
        summary = undefined;
        coveredUntil = undefined;
      }
      const remaining = rounds.slice(coveredIndex + 1);
      if (remaining.length < toCompress + toRetain) return { summary, recentRounds: remaining };

      const older = remaining.slice(0, remaining.length - toRetain);
      // Every reply of a round asks for the history: one failure must not cost a call each time.
      if (failedAt === older.at(-1)!.id) return { summary: undefined, recentRounds: [...rounds] };
      try {
        const updated = await summarise(summary, older, signal);
        summary = updated;
        coveredUntil = older.at(-1)!.id;
        return { summary, recentRounds: remaining.slice(-toRetain) };
      } catch (error) {
        if (signal?.aborted) throw new AbortedError();
        failedAt = older.at(-1)!.id;
        options.onError?.(toTaskWeaverError(error));
        // Without a usable summary the prompt carries the whole history instead.
        return { summary: undefined, recentRounds: [...rounds] };
      }
    },
  };
}
