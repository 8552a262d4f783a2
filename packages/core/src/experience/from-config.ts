import type { AppConfig } from "../config/load.js";
import type { LanguageModel } from "../llm/types.js";
import {
  createExperienceRetriever,
  createExperienceStore,
  type ExperienceRetriever,
  type ExperienceRetrieverOptions,
  type ExperienceStore,
} from "./experience-store.js";

/** The experience store of an app, from `session.experience_dir`, `experience.retrieve_threshold` and `llm.embedding_model`. */
export function experienceStoreFromConfig(config: AppConfig, model: LanguageModel): ExperienceStore {
  return createExperienceStore({
    dir: config.get("session.experience_dir"),
    model,
    threshold: config.get("experience.retrieve_threshold"),
    embeddingModelId: config.get("llm.embedding_model") || undefined,
    responseFormat: config.get("llm.response_format"),
  });
}

/**
 * A role's experience retriever when `<kind>.use_experience` is on (`planner` or
 * `code_generator`), else `undefined`. Share one store between roles and sessions of an app,
 * so saved sessions are summarised once.
 */
export function experienceRetrieverFromConfig(
  config: AppConfig,
  kind: "planner" | "code_generator",
  store: ExperienceStore,
  options: ExperienceRetrieverOptions = {},
): ExperienceRetriever | undefined {
  return config.get(`${kind}.use_experience`) ? createExperienceRetriever(store, options) : undefined;
}
