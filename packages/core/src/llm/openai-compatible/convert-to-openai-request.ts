import { APIError } from "openai";
import type {
  ChatCompletionCreateParamsBase,
  ChatCompletionMessageParam,
} from "openai/resources/chat/completions";
import { TaskWeaverError } from "../../errors.js";
import type { ChatMessage, ChatRequest } from "../types.js";
import type { OpenAICompatibleModelOptions, OpenAICompatibleSettings } from "./openai-compatible-settings.js";

/**
 * Reasoning models (o-series and the like) reject `temperature` and `max_tokens`; learnt from
 * the first 400 that names the parameter, then remembered for later calls of the same model.
 */
export interface ParameterCompatibility {
  omitTemperature: boolean;
  useMaxCompletionTokens: boolean;
}

export function toOpenAIMessage(message: ChatMessage): ChatCompletionMessageParam {
  switch (message.role) {
    case "system":
      return { role: "system", content: message.content };
    case "user":
      return { role: "user", content: message.content };
    case "assistant":
      return message.toolCalls !== undefined && message.toolCalls.length > 0
        ? {
            role: "assistant",
            content: message.content,
            tool_calls: message.toolCalls.map((call) => ({
              id: call.id,
              type: "function",
              function: { name: call.name, arguments: call.arguments },
            })),
          }
        : { role: "assistant", content: message.content };
    case "tool":
      return { role: "tool", content: message.content, tool_call_id: message.toolCallId };
  }
}

function responseFormatOf(
  request: ChatRequest,
  defaultFormat: OpenAICompatibleSettings["defaultResponseFormat"],
): ChatCompletionCreateParamsBase["response_format"] {
  const format = request.responseFormat ?? defaultFormat;
  if (format === "json_object") return { type: "json_object" };
  if (format === "text") {
    // No response_format at all: some OpenAI-compatible servers reject the field.
    return undefined;
  }
  if (request.jsonSchema === undefined) {
    throw new TaskWeaverError(
      "llm_request_invalid",
      'A chat request with responseFormat "json_schema" must carry jsonSchema { name, schema }.',
    );
  }
  return {
    type: "json_schema",
    json_schema: { name: request.jsonSchema.name, schema: request.jsonSchema.schema, strict: true },
  };
}

/** The body of a chat completion request, without the `stream` fields. */
export function toOpenAIChatBody(
  request: ChatRequest,
  options: Pick<OpenAICompatibleModelOptions, "temperature" | "maxTokens" | "seed">,
  settings: Pick<OpenAICompatibleSettings, "model" | "defaultResponseFormat">,
  compatibility: ParameterCompatibility,
): ChatCompletionCreateParamsBase {
  const body: ChatCompletionCreateParamsBase = {
    model: settings.model,
    messages: request.messages.map(toOpenAIMessage),
  };
  if (!compatibility.omitTemperature) body.temperature = options.temperature ?? 0;
  if (options.maxTokens !== undefined) {
    if (compatibility.useMaxCompletionTokens) body.max_completion_tokens = options.maxTokens;
    else body.max_tokens = options.maxTokens;
  }
  if (options.seed !== undefined) body.seed = options.seed;
  const responseFormat = responseFormatOf(request, settings.defaultResponseFormat);
  if (responseFormat !== undefined) body.response_format = responseFormat;
  if (request.tools !== undefined && request.tools.length > 0) {
    body.tools = request.tools.map((tool) => ({
      type: "function",
      function: { name: tool.name, description: tool.description, parameters: tool.parameters },
    }));
  }
  return body;
}

/**
 * Drops or renames a parameter a 400 says this model does not take, in `body` and in
 * `compatibility` for later calls. False when the error is not such a rejection.
 */
export function adaptToRejectedParameter(
  body: ChatCompletionCreateParamsBase,
  error: unknown,
  compatibility: ParameterCompatibility,
): boolean {
  if (!(error instanceof APIError) || error.status !== 400) return false;
  if (error.param === "temperature" && body.temperature !== undefined) {
    delete body.temperature;
    compatibility.omitTemperature = true;
    return true;
  }
  if (error.param === "max_tokens" && body.max_tokens !== undefined && body.max_tokens !== null) {
    body.max_completion_tokens = body.max_tokens;
    delete body.max_tokens;
    compatibility.useMaxCompletionTokens = true;
    return true;
  }
  return false;
}
