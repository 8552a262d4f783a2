/**
 * `@taskweaver/core/internal`: building blocks of the core that other packages of this
 * workspace (the apps, the tests, the benchmarks) may use, but library users should not: they
 * change with the core, without a changeset of their own. What users need is in
 * `@taskweaver/core`.
 *
 * Every exported name is listed here, by group; `public-api.test.ts` checks the list.
 *
 * @publicApi
 * Memory: AttachmentTypeSchema, RoundStateSchema, ConversationSchema, Conversation, createAttachment
 * Config: CONFIG_KEYS, ConfigKey, ConfigOrigin
 * Language models: DEFAULT_OPENAI_BASE_URL, languageModelFromConfig, LanguageModelFromConfigOptions,
 *   chatRequestCacheKey, embeddingCacheKey, MockMode
 * Session: SessionInit, internalStepLimit, RoundProgress, StopCondition
 * Parsing and reports: JsonStreamParser, FieldEvent, formatExecutionMessage, formatExecutionResult
 * Roles: EXTRA_ROLES, formatPlannerRounds, formatCodeInterpreterRounds, CLI_ANSWER_SCHEMA,
 *   createShellCommandCode, formatCliRounds, formatCommandReport, createPluginCallCode,
 *   formatPluginRounds, FunctionCallRecord, findImageReferences, IMAGE_READER_ALIAS, createEcho,
 *   EchoOptions, ECHO_ALIAS, createRecepta, ReceptaOptions, RECEPTA_ALIAS, RECEPTA_REPLY
 * Code verification: verifyCode, describeVerificationPolicy, PolicyCodeVerifier,
 *   VerificationPolicyFromConfigOptions, VerificationProblem
 * Plugins: loadPlugins, LoadedPlugins, PluginFile, PluginFileSchema, PluginParameterSchema,
 *   PluginReturnSchema, pluginToLoadSpec, pluginToPromptSignature, pluginToTool,
 *   pythonTypeToJsonSchema
 * Examples: loadExamples, LoadExamplesOptions
 * Experience: saveExperience, SaveExperienceOptions, experienceFileName, rawExperienceFileName,
 *   createExperienceStore, ExperienceStore, ExperienceStoreOptions, createExperienceRetriever,
 *   ExperienceRetrieverOptions, experienceStoreFromConfig, experienceRetrieverFromConfig,
 *   formatExperience, cosineSimilarity, Experience, ExperienceFile, ExperienceFileSchema,
 *   ExperienceLoadReport, ExperienceMatch, ExperienceProblem
 * Compression: createRoundCompressor, RoundCompressorOptions, CompressedHistory,
 *   roundCompressorFromConfig, RoundCompressorFromConfigOptions, formatRoundsAsText,
 *   FormatRoundsOptions
 */

export {
  AttachmentTypeSchema,
  ConversationSchema,
  RoundStateSchema,
  type Conversation,
} from "../memory/types.js";
export { createAttachment } from "../memory/factories.js";
export { CONFIG_KEYS, type ConfigKey } from "../config/keys.js";
export type { ConfigOrigin } from "../config/load.js";
export { DEFAULT_OPENAI_BASE_URL } from "../llm/openai-language-model.js";
export { languageModelFromConfig, type LanguageModelFromConfigOptions } from "../llm/from-config.js";
export { chatRequestCacheKey, embeddingCacheKey, type MockMode } from "../llm/mock-language-model.js";
export type { SessionInit } from "../session/session.js";
export { internalStepLimit, type RoundProgress, type StopCondition } from "../session/stop-conditions.js";
export { JsonStreamParser, type FieldEvent } from "../parsing/json-stream.js";
export { formatExecutionMessage, formatExecutionResult } from "../prompts/execution-report.js";
export { EXTRA_ROLES } from "../roles/extra-roles.js";
export { formatPlannerRounds } from "../roles/planner.js";
export { formatCodeInterpreterRounds } from "../roles/code-interpreter.js";
export {
  CLI_ANSWER_SCHEMA,
  createShellCommandCode,
  formatCliRounds,
  formatCommandReport,
} from "../roles/cli-interpreter.js";
export { createPluginCallCode, formatPluginRounds, type FunctionCallRecord } from "../roles/plugin-interpreter.js";
export { findImageReferences, IMAGE_READER_ALIAS } from "../roles/image-reader.js";
export { createEcho, ECHO_ALIAS, type EchoOptions } from "../roles/echo.js";
export { createRecepta, RECEPTA_ALIAS, RECEPTA_REPLY, type ReceptaOptions } from "../roles/recepta.js";
export { describeVerificationPolicy, verifyCode, type PolicyCodeVerifier } from "../verification/verify-code.js";
export type { VerificationPolicyFromConfigOptions, VerificationProblem } from "../verification/policy.js";
export {
  loadPlugins,
  PluginFileSchema,
  PluginParameterSchema,
  PluginReturnSchema,
  type LoadedPlugins,
  type PluginFile,
} from "../plugins/plugin-spec.js";
export {
  pluginToLoadSpec,
  pluginToPromptSignature,
  pluginToTool,
  pythonTypeToJsonSchema,
} from "../plugins/plugin-render.js";
export { loadExamples, type LoadExamplesOptions } from "../examples/load-examples.js";
export {
  experienceFileName,
  rawExperienceFileName,
  saveExperience,
  type SaveExperienceOptions,
} from "../experience/save-experience.js";
export {
  cosineSimilarity,
  createExperienceRetriever,
  createExperienceStore,
  ExperienceFileSchema,
  formatExperience,
  type Experience,
  type ExperienceFile,
  type ExperienceLoadReport,
  type ExperienceMatch,
  type ExperienceProblem,
  type ExperienceRetrieverOptions,
  type ExperienceStore,
  type ExperienceStoreOptions,
} from "../experience/experience-store.js";
export { experienceRetrieverFromConfig, experienceStoreFromConfig } from "../experience/from-config.js";
export {
  createRoundCompressor,
  type CompressedHistory,
  type RoundCompressorOptions,
} from "../compression/round-compressor.js";
export { formatRoundsAsText, type FormatRoundsOptions } from "../compression/format-rounds.js";
export { roundCompressorFromConfig, type RoundCompressorFromConfigOptions } from "../compression/from-config.js";
