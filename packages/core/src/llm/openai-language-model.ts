/**
 * The names the OpenAI-compatible provider had before it moved to `openai-compatible/`,
 * kept so existing imports keep working.
 */
import { createOpenAICompatibleModel } from "./openai-compatible/openai-compatible-chat-model.js";
import type { OpenAICompatibleModelOptions } from "./openai-compatible/openai-compatible-settings.js";

export {
  createOpenAICompatibleModel,
  OpenAICompatibleChatModel,
} from "./openai-compatible/openai-compatible-chat-model.js";
export {
  DEFAULT_OPENAI_BASE_URL,
  type OpenAICompatibleModelOptions,
} from "./openai-compatible/openai-compatible-settings.js";
export type { LlmRetryInfo } from "./types.js";

/** @deprecated Use `OpenAICompatibleModelOptions`. */
export type LanguageModelOptions = OpenAICompatibleModelOptions;

/** @deprecated Use `createOpenAICompatibleModel`, which says which provider it builds. */
export const createLanguageModel: typeof createOpenAICompatibleModel = createOpenAICompatibleModel;
