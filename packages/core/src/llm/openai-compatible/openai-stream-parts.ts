import type { ChatCompletion, ChatCompletionChunk } from "openai/resources/chat/completions";
import type { ChatStreamPart, ChatToolCall, TokenUsage } from "../types.js";

export function fromOpenAIUsage(
  usage:
    | {
        prompt_tokens: number;
        completion_tokens: number;
        total_tokens: number;
        prompt_tokens_details?: { cached_tokens?: number } | null;
      }
    | null
    | undefined,
): TokenUsage | undefined {
  if (usage === null || usage === undefined) return undefined;
  const cached = usage.prompt_tokens_details?.cached_tokens;
  return {
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens,
    totalTokens: usage.total_tokens,
    ...(typeof cached === "number" && cached > 0 ? { cachedPromptTokens: cached } : {}),
  };
}

function finishPart(finishReason: string | null | undefined, usage: TokenUsage | undefined): ChatStreamPart {
  return { type: "finish", finishReason: finishReason ?? "stop", ...(usage ? { usage } : {}) };
}

/** The parts of a non-streamed answer: its text as one delta, its tool calls, the finish. */
export function completionToParts(completion: ChatCompletion): ChatStreamPart[] {
  const choice = completion.choices[0];
  const parts: ChatStreamPart[] = [];
  const content = choice?.message.content ?? "";
  if (content !== "") parts.push({ type: "text-delta", text: content });
  for (const call of choice?.message.tool_calls ?? []) {
    if (call.type === "function") {
      parts.push({
        type: "tool-call",
        toolCall: { id: call.id, name: call.function.name, arguments: call.function.arguments },
      });
    }
  }
  parts.push(finishPart(choice?.finish_reason, fromOpenAIUsage(completion.usage)));
  return parts;
}

/**
 * Turns the chunks of a streamed answer into parts. Text passes through at once; tool calls
 * arrive in pieces and are only usable whole, so they come out with the finish.
 */
export class ChunkConverter {
  private readonly toolCalls = new Map<number, ChatToolCall>();
  private finishReason: string | undefined;
  /** The token counts, from the last chunk that carried them. */
  usage: TokenUsage | undefined;

  /** The text delta of this chunk, if any; everything else is kept for `finish`. */
  add(chunk: ChatCompletionChunk): ChatStreamPart | undefined {
    if (chunk.usage) this.usage = fromOpenAIUsage(chunk.usage);
    const choice = chunk.choices[0];
    if (choice === undefined) return undefined;
    for (const delta of choice.delta.tool_calls ?? []) this.addToolCallDelta(delta);
    if (choice.finish_reason) this.finishReason = choice.finish_reason;
    const content = choice.delta.content;
    return typeof content === "string" && content !== "" ? { type: "text-delta", text: content } : undefined;
  }

  /** The tool calls in index order, then the finish part. */
  finish(): ChatStreamPart[] {
    const indexes = [...this.toolCalls.keys()].sort((left, right) => left - right);
    return [
      ...indexes.map((index): ChatStreamPart => ({
        type: "tool-call",
        toolCall: this.toolCalls.get(index)!,
      })),
      finishPart(this.finishReason, this.usage),
    ];
  }

  private addToolCallDelta(delta: ChatCompletionChunk.Choice.Delta.ToolCall): void {
    const existing = this.toolCalls.get(delta.index);
    if (existing === undefined) {
      this.toolCalls.set(delta.index, {
        id: delta.id ?? `call_${delta.index}`,
        name: delta.function?.name ?? "",
        arguments: delta.function?.arguments ?? "",
      });
      return;
    }
    if (delta.id) existing.id = delta.id;
    if (delta.function?.name) existing.name += delta.function.name;
    if (delta.function?.arguments) existing.arguments += delta.function.arguments;
  }
}
