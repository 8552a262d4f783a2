/*
 * Layers, lowest first; a file imports only from its own layer or lower ones (checked by
 * layers.test.ts):
 *   1. errors.ts, text/ (cutting long text), parsing/ (streamed JSON, zod issues)
 *   2. memory/ (posts, rounds), events/ (the event union), executor/ (the contract), config/
 *   3. llm/ (model clients)
 *   4. model-calls/ (one JSON answer from a model), prompts/, verification/, plugins/, examples/
 *   5. compression/, experience/
 *   6. roles/
 *   7. session/
 *   8. app.ts, testing/
 *   9. index.ts, internal/
 */
export {
  AbortedError,
  ConfigError,
  ExecutionTimeoutError,
  ExecutorUnavailableError,
  FileAccessError,
  KernelDiedError,
  LlmNotConfiguredError,
  LlmResponseError,
  MockAnswerMissingError,
  RoleError,
  RoundLimitExceededError,
  TaskWeaverError,
  toTaskWeaverError,
} from "./errors.js";
export { createId, type IdGenerator } from "./memory/ids.js";
export {
  ATTACHMENT_TYPES,
  AttachmentSchema,
  AttachmentTypeSchema,
  ConversationSchema,
  PostSchema,
  RoundSchema,
  RoundStateSchema,
  type Attachment,
  type AttachmentType,
  type Conversation,
  type Post,
  type Round,
  type RoundState,
} from "./memory/types.js";
export { createAttachment, createPost, createRound, findAttachment } from "./memory/factories.js";
export { CONFIG_KEYS, type ConfigKey, type ConfigValues } from "./config/keys.js";
export {
  CONFIG_FILE_NAME,
  environmentVariableFor,
  findAppDir,
  loadConfig,
  parseConfigAssignments,
  type AppConfig,
  type ConfigOrigin,
  type LoadConfigOptions,
} from "./config/load.js";
export type {
  Artifact,
  CodeExecutor,
  ExecuteOptions,
  ExecutionOutcome,
  ExecutionOutput,
  ExecutionResult,
  ExecutorFactory,
  ExecutorInfo,
  ExecutorRequest,
  FileInfo,
  PluginLoadSpec,
  RichDisplay,
} from "./executor/contract.js";
export type { EventListener, TaskWeaverEvent, TaskWeaverEventType } from "./events/types.js";
export type {
  ChatContentPart,
  ChatMessage,
  ChatRequest,
  ChatStreamPart,
  ChatTool,
  ChatToolCall,
  LanguageModel,
  TokenUsage,
  UsageRecord,
} from "./llm/types.js";
export {
  createLanguageModel,
  DEFAULT_OPENAI_BASE_URL,
  type LanguageModelOptions,
  type LlmRetryInfo,
} from "./llm/openai-language-model.js";
export { languageModelFromConfig, type LanguageModelFromConfigOptions } from "./llm/from-config.js";
export {
  chatRequestCacheKey,
  createMockLanguageModel,
  embeddingCacheKey,
  type MockLanguageModelOptions,
  type MockMode,
} from "./llm/mock-language-model.js";
export {
  BUILT_IN_ROLES,
  createTaskWeaver,
  type CreateSessionOptions,
  type CreateTaskWeaverOptions,
  type TaskWeaverApp,
} from "./app.js";
export { Session, type MessageFile, type SendMessageOptions, type SessionInit } from "./session/session.js";
export { internalStepLimit, type RoundProgress, type StopCondition } from "./session/stop-conditions.js";
export { PostBuilder } from "./roles/post-builder.js";
export type { Role, RoleContext, RoleFactory, RoleServices } from "./roles/role.js";
export { createPlanner, formatPlannerRounds, PLANNER_ALIAS, type PlannerOptions } from "./roles/planner.js";
export {
  CODE_INTERPRETER_ALIAS,
  createCodeInterpreter,
  formatCodeInterpreterRounds,
  type CodeInterpreterOptions,
  type CodeProblem,
  type CodeVerifier,
} from "./roles/code-interpreter.js";
export { JsonStreamParser, type FieldEvent } from "./parsing/json-stream.js";
export { formatExecutionMessage, formatExecutionResult } from "./prompts/execution-report.js";
export {
  createCodeVerifier,
  describeVerificationPolicy,
  verifyCode,
  type PolicyCodeVerifier,
} from "./verification/verify-code.js";
export {
  verificationPolicyFromConfig,
  type VerificationPolicy,
  type VerificationPolicyFromConfigOptions,
  type VerificationProblem,
} from "./verification/policy.js";
export {
  loadPlugins,
  PluginFileSchema,
  PluginParameterSchema,
  PluginReturnSchema,
  type LoadedPlugins,
  type PluginFile,
  type PluginParameter,
  type PluginProblem,
  type PluginReturn,
  type PluginSpec,
} from "./plugins/plugin-spec.js";
export {
  pluginToLoadSpec,
  pluginToPromptSignature,
  pluginToTool,
  pythonTypeToJsonSchema,
} from "./plugins/plugin-render.js";
export { loadExamples, type LoadExamplesOptions } from "./examples/load-examples.js";
export { EXTRA_ROLES } from "./roles/extra-roles.js";
export { createEcho, ECHO_ALIAS, type EchoOptions } from "./roles/echo.js";
export { createRecepta, RECEPTA_ALIAS, RECEPTA_REPLY, type ReceptaOptions } from "./roles/recepta.js";
export {
  CLI_ANSWER_SCHEMA,
  createCliInterpreter,
  createShellCommandCode,
  formatCliRounds,
  formatCommandReport,
  type CliInterpreterOptions,
} from "./roles/cli-interpreter.js";
export {
  createPluginCallCode,
  createPluginInterpreter,
  formatPluginRounds,
  type FunctionCallRecord,
  type PluginInterpreterOptions,
} from "./roles/plugin-interpreter.js";
export { createImageReader, findImageReferences, IMAGE_READER_ALIAS, type ImageReaderOptions } from "./roles/image-reader.js";
export {
  experienceFileName,
  rawExperienceFileName,
  saveExperience,
  type SavedExperience,
  type SaveExperienceOptions,
} from "./experience/save-experience.js";
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
  type ExperienceRetriever,
  type ExperienceRetrieverOptions,
  type ExperienceStore,
  type ExperienceStoreOptions,
} from "./experience/experience-store.js";
export {
  createRoundCompressor,
  type CompressedHistory,
  type RoundCompressor,
  type RoundCompressorOptions,
} from "./compression/round-compressor.js";
export { formatRoundsAsText, type FormatRoundsOptions } from "./compression/format-rounds.js";
export { experienceRetrieverFromConfig, experienceStoreFromConfig } from "./experience/from-config.js";
export { roundCompressorFromConfig, type RoundCompressorFromConfigOptions } from "./compression/from-config.js";
