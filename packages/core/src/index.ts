/**
 * `@taskweaver/core`: TaskWeaver for TypeScript. `createTaskWeaver` loads an app directory
 * (config, model, plugins) and opens sessions; a `Session` runs rounds in which roles (the
 * Planner, the CodeInterpreter, your own) exchange posts, streaming `TaskWeaverEvent`s, while
 * Python runs behind the `CodeExecutor` contract (runtimes in `@taskweaver/executor`). Every
 * error is a `TaskWeaverError` with a closed `code`, checked with `SomeError.isInstance(error)`.
 *
 * Helpers that other packages of this workspace use but library users should not rely on
 * live in `@taskweaver/core/internal`, with no promise of stability.
 *
 * Every exported name is listed here, by group; `public-api.test.ts` fails when an export is
 * added without its line here, or a line stays behind for a removed one.
 *
 * @publicApi
 * App: createTaskWeaver, BUILT_IN_ROLES, CreateTaskWeaverOptions, CreateSessionOptions, TaskWeaverApp
 * Session: Session, SendMessageOptions, MessageFile, StopKernelOptions, SessionSnapshotSummary
 * Approval: ApproveExecution, ExecutionApprovalRequest, ExecutionApprovalDecision
 * Events: TaskWeaverEvent, TaskWeaverEventType, EventListener
 * Memory: Post, Round, RoundState, Attachment, AttachmentType, ATTACHMENT_TYPES, PostSchema,
 *   RoundSchema, AttachmentSchema, createPost, createRound, findAttachment
 * Ids: createId, IdGenerator
 * Config: loadConfig, LoadConfigOptions, AppConfig, ConfigValues, CONFIG_FILE_NAME, findAppDir,
 *   environmentVariableFor, parseConfigAssignments
 * Language models: LanguageModel, ChatRequest, ChatMessage, ChatContentPart, ChatStreamPart,
 *   ChatTool, ChatToolCall, TokenUsage, UsageRecord, LlmRetryInfo, ModelProvider, createOpenAICompatibleModel,
 *   OpenAICompatibleModelOptions, createLanguageModel, LanguageModelOptions,
 *   createMockLanguageModel, MockLanguageModelOptions
 * Usage: RoundUsage, UsageLine, ModelPrice, ModelPricing, formatUsageSummary, addUsage
 * Executor contract: CodeExecutor, ExecutorFactory, ExecutorRequest, ExecutorInfo, ExecutorMemory,
 *   ExecuteOptions, ExecutionResult, ExecutionOutcome, ExecutionOutput, Artifact, RichDisplay,
 *   FileInfo, PluginLoadSpec, PluginLoadState, PluginStatus, KernelSnapshot, SnapshotRestoreResult,
 *   SnapshotLoss, SnapshotModule, HostCall, HostCallHandler, HostCallOptions
 * MCP servers as plugins: McpServerConfig
 * TaskWeaver as an MCP server: createTaskWeaverMcpServer, TaskWeaverMcpServer,
 *   TaskWeaverMcpServerOptions, McpSessionSource, McpHostedSession
 * Roles: Role, RoleContext, RoleFactory, RoleServices, PostBuilder
 * Built-in roles: createPlanner, PlannerOptions, PLANNER_ALIAS, createCodeInterpreter,
 *   CodeInterpreterOptions, CODE_INTERPRETER_ALIAS, CodeVerifier, CodeProblem,
 *   createCliInterpreter, CliInterpreterOptions, createPluginInterpreter,
 *   PluginInterpreterOptions, createImageReader, ImageReaderOptions
 * Role parts: ExperienceRetriever, SavedExperience, RoundCompressor
 * Code verification: createCodeVerifier, verificationPolicyFromConfig, VerificationPolicy
 * Plugins: PluginSpec, PluginParameter, PluginReturn, PluginProblem, describePluginStatus
 * Examples: ExampleProblem
 * Errors: TaskWeaverError, TaskWeaverErrorCode, toTaskWeaverError, ConfigError,
 *   LlmNotConfiguredError, LlmResponseError, MockAnswerMissingError, RoundLimitExceededError,
 *   RoleError, AbortedError, ExecutionTimeoutError, KernelDiedError, ExecutorUnavailableError,
 *   FileAccessError
 */

/*
 * Layers, lowest first; a file imports only from its own layer or lower ones (checked by
 * layers.test.ts):
 *   1. errors.ts, text/ (cutting long text), parsing/ (streamed JSON, zod issues)
 *   2. memory/ (posts, rounds), events/ (the event union), executor/ (the contract), config/,
 *      usage/ (tokens, time and cost of rounds)
 *   3. llm/ (model clients), tracing/ (OpenTelemetry spans and metrics, API only)
 *   4. model-calls/ (one JSON answer from a model), prompts/, verification/, plugins/, mcp/
 *      (MCP servers as plugins), examples/
 *   5. compression/, experience/
 *   6. roles/
 *   7. session/
 *   8. app.ts, testing/
 *   9. index.ts, internal/
 */

export {
  BUILT_IN_ROLES,
  createTaskWeaver,
  type CreateSessionOptions,
  type CreateTaskWeaverOptions,
  type TaskWeaverApp,
} from "./app.js";
export { Session, type MessageFile, type SendMessageOptions, type StopKernelOptions } from "./session/session.js";
export type { SessionSnapshotSummary } from "./session/snapshot.js";
export type { ApproveExecution, ExecutionApprovalDecision, ExecutionApprovalRequest } from "./roles/approval.js";
export type { EventListener, TaskWeaverEvent, TaskWeaverEventType } from "./events/types.js";
export {
  ATTACHMENT_TYPES,
  AttachmentSchema,
  PostSchema,
  RoundSchema,
  type Attachment,
  type AttachmentType,
  type Post,
  type Round,
  type RoundState,
} from "./memory/types.js";
export { createPost, createRound, findAttachment } from "./memory/factories.js";
export { addUsage, formatUsageSummary, type RoundUsage, type UsageLine } from "./usage/round-usage.js";
export type { ModelPrice, ModelPricing } from "./usage/pricing.js";
export { createId, type IdGenerator } from "./memory/ids.js";
export type { ConfigValues } from "./config/keys.js";
export {
  CONFIG_FILE_NAME,
  environmentVariableFor,
  findAppDir,
  loadConfig,
  parseConfigAssignments,
  type AppConfig,
  type LoadConfigOptions,
} from "./config/load.js";
export type {
  ChatContentPart,
  ChatMessage,
  ChatRequest,
  ChatStreamPart,
  ChatTool,
  ChatToolCall,
  LanguageModel,
  LlmRetryInfo,
  ModelProvider,
  TokenUsage,
  UsageRecord,
} from "./llm/types.js";
export {
  createLanguageModel,
  createOpenAICompatibleModel,
  type LanguageModelOptions,
  type OpenAICompatibleModelOptions,
} from "./llm/openai-language-model.js";
export { createMockLanguageModel, type MockLanguageModelOptions } from "./llm/mock-language-model.js";
export type {
  Artifact,
  CodeExecutor,
  ExecuteOptions,
  ExecutionOutcome,
  ExecutionOutput,
  ExecutionResult,
  ExecutorFactory,
  ExecutorInfo,
  ExecutorMemory,
  ExecutorRequest,
  FileInfo,
  HostCall,
  HostCallHandler,
  HostCallOptions,
  KernelSnapshot,
  PluginLoadSpec,
  PluginLoadState,
  PluginStatus,
  RichDisplay,
  SnapshotLoss,
  SnapshotModule,
  SnapshotRestoreResult,
} from "./executor/contract.js";
export type { McpServerConfig } from "./config/mcp-servers.js";
export {
  createTaskWeaverMcpServer,
  type McpHostedSession,
  type McpSessionSource,
  type TaskWeaverMcpServer,
  type TaskWeaverMcpServerOptions,
} from "./mcp/taskweaver-mcp-server.js";
export type { Role, RoleContext, RoleFactory, RoleServices } from "./roles/role.js";
export { PostBuilder } from "./roles/post-builder.js";
export { createPlanner, PLANNER_ALIAS, type PlannerOptions } from "./roles/planner.js";
export {
  CODE_INTERPRETER_ALIAS,
  createCodeInterpreter,
  type CodeInterpreterOptions,
  type CodeProblem,
  type CodeVerifier,
} from "./roles/code-interpreter.js";
export { createCliInterpreter, type CliInterpreterOptions } from "./roles/cli-interpreter.js";
export { createPluginInterpreter, type PluginInterpreterOptions } from "./roles/plugin-interpreter.js";
export { createImageReader, type ImageReaderOptions } from "./roles/image-reader.js";
export type { ExperienceRetriever } from "./experience/experience-store.js";
export type { SavedExperience } from "./experience/save-experience.js";
export type { RoundCompressor } from "./compression/round-compressor.js";
export { createCodeVerifier } from "./verification/verify-code.js";
export { verificationPolicyFromConfig, type VerificationPolicy } from "./verification/policy.js";
export type { PluginParameter, PluginProblem, PluginReturn, PluginSpec } from "./plugins/plugin-spec.js";
export { describePluginStatus } from "./plugins/plugin-status.js";
export type { ExampleProblem } from "./examples/load-examples.js";
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
  type TaskWeaverErrorCode,
} from "./errors.js";
