import { AbortedError, type ChatRequest, type LanguageModel } from "@taskweaver/core";

/** The whole text of one chat completion. */
export async function modelText(model: LanguageModel, request: ChatRequest): Promise<string> {
  let text = "";
  for await (const part of model.streamChat(request)) {
    if (request.signal?.aborted) throw new AbortedError();
    if (part.type === "text-delta") text += part.text;
  }
  return text;
}
