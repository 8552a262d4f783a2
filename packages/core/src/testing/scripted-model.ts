import type { ChatRequest, ChatStreamPart, LanguageModel, UsageRecord } from "../llm/types.js";

/**
 * A LanguageModel for unit tests: answers with scripted texts in order, streamed in small
 * pieces, and records the requests. End-to-end tests use the fake HTTP server instead.
 */
export function createScriptedModel(answers: (string | ((request: ChatRequest) => string))[]) {
  const requests: ChatRequest[] = [];
  const usage: UsageRecord[] = [];
  const model: LanguageModel & { requests: ChatRequest[]; remaining: () => number } = {
    modelId: "scripted",
    usage,
    requests,
    remaining: () => answers.length,
    async *streamChat(request: ChatRequest): AsyncIterable<ChatStreamPart> {
      requests.push(request);
      const next = answers.shift();
      if (next === undefined) throw new Error("scripted model: no answer left");
      const text = typeof next === "function" ? next(request) : next;
      for (let index = 0; index < text.length; index += 16) {
        if (request.signal?.aborted) throw Object.assign(new Error("aborted"), { name: "AbortError" });
        yield { type: "text-delta", text: text.slice(index, index + 16) };
      }
      yield { type: "finish", finishReason: "stop" };
    },
    async embed(texts: string[]) {
      return texts.map(() => [1, 0]);
    },
  };
  return model;
}

/** Helpers to write answers in the wire format. */
export const answers = {
  planner(fields: { send_to: string; message: string; stop?: string; plan?: string }): string {
    return JSON.stringify({
      response: {
        plan_reasoning: "reasoning",
        init_plan: fields.plan ?? "1. do it",
        plan: fields.plan ?? "1. do it",
        current_plan_step: "1. do it",
        stop: fields.stop ?? (fields.send_to === "User" ? "Completed" : "InProcess"),
        send_to: fields.send_to,
        message: fields.message,
      },
    });
  },
  python(code: string, thought = "I will run code."): string {
    return JSON.stringify({ response: { thought, reply_type: "python", reply_content: code } });
  },
  text(content: string): string {
    return JSON.stringify({ response: { thought: "No code needed.", reply_type: "text", reply_content: content } });
  },
};
