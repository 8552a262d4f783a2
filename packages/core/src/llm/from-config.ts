import { isAbsolute, resolve } from "node:path";
import type { AppConfig } from "../config/load.js";
import { ConfigError, LlmNotConfiguredError } from "../errors.js";
import { createMockLanguageModel } from "./mock-language-model.js";
import { createOpenAICompatibleModel } from "./openai-compatible/openai-compatible-chat-model.js";
import {
  DEFAULT_OPENAI_BASE_URL,
  type OpenAICompatibleModelOptions,
} from "./openai-compatible/openai-compatible-settings.js";
import type { LanguageModel } from "./types.js";

/** Options of `languageModelFromConfig`. */
export interface LanguageModelFromConfigOptions {
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /**
   * Name of an entry of `ext_llms.llm_configs` whose `llm.*` values override the main ones,
   * e.g. the value of `planner.llm_alias`.
   */
  alias?: string;
  /** Called before each retry of a model call (e.g. to show "rate limited, retrying"). */
  onRetry?: OpenAICompatibleModelOptions["onRetry"];
}

const OLLAMA_BASE_URL = "http://localhost:11434/v1";
const EMBEDDING_API_TYPES = new Set(["openai", "azure", "azure_ad", "ollama"]);

/** The config with an alias's `llm.*` overrides applied. */
function configForAlias(config: AppConfig, alias: string | undefined): AppConfig {
  if (alias === undefined || alias === "") return config;
  const configs = config.get("ext_llms.llm_configs");
  const overrides = configs[alias];
  if (overrides === undefined) {
    const known = Object.keys(configs);
    throw new ConfigError(
      `The LLM alias "${alias}" is not defined in ext_llms.llm_configs` +
        (known.length > 0 ? ` (defined: ${known.join(", ")}).` : " (no aliases are defined)."),
    );
  }
  return config.withOverrides(overrides);
}

/** The `llm.*` keys that must still be set before a real model can be built; empty when none. */
function missingModelKeys(config: AppConfig): string[] {
  const apiType = config.get("llm.api_type");
  const model = config.get("llm.model");
  const apiKey = config.get("llm.api_key");
  const isDefaultBase = config.get("llm.api_base").replace(/\/+$/, "") === DEFAULT_OPENAI_BASE_URL;
  const missing: string[] = [];
  if (model === undefined || model.trim() === "") missing.push("llm.model");
  if ((apiType === "azure" || apiType === "azure_ad") && isDefaultBase) missing.push("llm.api_base");
  // A custom base URL is usually a local server that needs no key.
  const keyNeeded = apiType === "azure" || (apiType === "openai" && isDefaultBase);
  if (keyNeeded && (apiKey === undefined || apiKey === "")) missing.push("llm.api_key");
  return missing;
}

function notConfiguredError(
  config: AppConfig,
  alias: string | undefined,
  missing: string[],
): LlmNotConfiguredError {
  const scope = alias !== undefined ? ` for the LLM alias "${alias}" (ext_llms.llm_configs.${alias})` : "";
  const file = config.configFile ?? `${config.appDir}/taskweaver_config.json`;
  return new LlmNotConfiguredError(
    `No language model is configured${scope}: ${missing.join(", ")} ${missing.length > 1 ? "are" : "is"} missing. ` +
      `Set llm.model and llm.api_key in ${file}, or the environment variables LLM_MODEL and LLM_API_KEY. ` +
      `For a local OpenAI-compatible server (Ollama, vLLM, LM Studio ...) set llm.api_base (LLM_API_BASE) ` +
      `instead of a key; for Azure OpenAI set llm.api_type "azure", llm.api_base to the resource endpoint ` +
      `and llm.model to the deployment. To see TaskWeaver without a model, run the recorded demo: ` +
      `\`pnpm --silent taskweaver --demo\` in the repository, or \`taskweaver --demo\`.`,
    missing,
  );
}

/**
 * Options for `createOpenAICompatibleModel` from `llm.*` config. Throws `LlmNotConfiguredError` when
 * the model name, or the key for OpenAI itself, is missing.
 */
function realModelOptions(config: AppConfig, alias: string | undefined): OpenAICompatibleModelOptions {
  const missing = missingModelKeys(config);
  if (missing.length > 0) throw notConfiguredError(config, alias, missing);
  const apiType = config.get("llm.api_type");
  const model = config.get("llm.model");
  const apiKey = config.get("llm.api_key");
  let baseUrl = config.get("llm.api_base").replace(/\/+$/, "");
  if (apiType === "ollama" && baseUrl === DEFAULT_OPENAI_BASE_URL) baseUrl = OLLAMA_BASE_URL;

  const options: OpenAICompatibleModelOptions = {
    model: model!,
    baseUrl,
    responseFormat: config.get("llm.response_format"),
    temperature: config.get("llm.openai.temperature"),
    stream: config.get("llm.stream"),
    requestTimeoutMs: config.get("llm.request_timeout") * 1000,
    maxRetries: config.get("llm.max_retries"),
  };
  if (apiKey !== undefined && apiKey !== "") options.apiKey = apiKey;
  const maxTokens = config.get("llm.openai.max_tokens");
  if (maxTokens !== undefined) options.maxTokens = maxTokens;
  const seed = config.get("llm.openai.seed");
  if (seed !== undefined) options.seed = seed;
  const embeddingModel = config.get("llm.embedding_model");
  if (embeddingModel !== undefined && embeddingModel !== "") options.embeddingModel = embeddingModel;

  if (apiType === "azure" || apiType === "azure_ad") {
    options.apiType = "azure";
    options.azureApiVersion = config.get("llm.azure.api_version");
    if (apiType === "azure_ad") {
      if (apiKey === undefined || apiKey === "") {
        throw new ConfigError(
          `llm.api_type "azure_ad" (Microsoft Entra ID sign-in) is not supported yet. Put an access token ` +
            `in llm.api_key (LLM_API_KEY), or use llm.api_type "azure" with an API key.`,
        );
      }
      // The token goes out as a bearer token, as Azure expects for Entra ID.
      const token = apiKey;
      delete options.apiKey;
      options.azureAdTokenProvider = () => Promise.resolve(token);
    }
  }
  return options;
}

/**
 * The language model the config describes: OpenAI, Azure OpenAI, any OpenAI-compatible server,
 * or the record/replay mock when `llm.use_mock` is on. `alias` selects an entry of
 * `ext_llms.llm_configs` so roles can use different models.
 *
 * Throws `LlmNotConfiguredError` (with `missingKeys`) when no model is configured, and
 * `ConfigError` for an unknown alias or unsupported settings.
 */
export function languageModelFromConfig(
  config: AppConfig,
  options: LanguageModelFromConfigOptions = {},
): LanguageModel {
  const effective = configForAlias(config, options.alias);
  const createReal = (): LanguageModel => {
    const modelOptions = realModelOptions(effective, options.alias);
    if (options.fetch !== undefined) modelOptions.fetch = options.fetch;
    if (options.onRetry !== undefined) modelOptions.onRetry = options.onRetry;
    modelOptions.pricing = effective.get("llm.pricing");
    const model = createOpenAICompatibleModel(modelOptions);
    const embeddingApiType = effective.get("llm.embedding_api_type");
    if (
      embeddingApiType !== undefined &&
      embeddingApiType !== "" &&
      !EMBEDDING_API_TYPES.has(embeddingApiType)
    ) {
      return {
        modelId: model.modelId,
        ...(model.provider ? { provider: model.provider } : {}),
        streamChat: (request) => model.streamChat(request),
        embed: () =>
          Promise.reject(
            new ConfigError(
              `llm.embedding_api_type "${embeddingApiType}" is not supported; use an OpenAI-compatible ` +
                `embedding endpoint ("openai", "azure" or "ollama") with llm.embedding_model.`,
            ),
          ),
        usage: model.usage,
      };
    }
    return model;
  };

  if (effective.get("llm.use_mock") || effective.get("llm.api_type") === "mock") {
    const mode = effective.get("llm.mock.mode");
    const cachePath = effective.get("llm.mock.cache_path");
    const fixedResponse = effective.get("llm.mock.fixed_response");
    const model = effective.get("llm.model");
    return createMockLanguageModel({
      mode,
      cachePath: isAbsolute(cachePath) ? cachePath : resolve(effective.appDir, cachePath),
      ...(fixedResponse !== undefined ? { fixedResponse } : {}),
      // Built on the first cache miss only, so playback needs no model configured. Without a
      // configured model a miss is a MockAnswerMissingError, not the start-up error that points
      // at the demo; record_only keeps that error, since it always needs the model.
      ...(mode === "record_only" || missingModelKeys(effective).length === 0 ? { recorder: createReal } : {}),
      defaultResponseFormat: effective.get("llm.response_format"),
      modelId: model !== undefined && model !== "" ? model : "mock",
      pricing: effective.get("llm.pricing"),
    });
  }
  return createReal();
}
