import { z } from "zod";
import { McpServersSchema } from "./mcp-servers.js";
import { DEFAULT_BLOCKED_FUNCTIONS } from "./default-blocked-functions.js";

/**
 * Every configuration key we know, in TaskWeaver's dotted notation, with its type and default.
 * Values come, in priority order, from explicit overrides, the environment
 * (`llm.api_key` -> `LLM_API_KEY`), `taskweaver_config.json`, then these defaults.
 * `${AppBaseDir}` in a string default or value means the app directory.
 *
 * Other issues add their keys here; unknown keys in the file are kept and readable with
 * `AppConfig.raw()` (plugins, ext_llms, ...).
 */
const stringList = z.array(z.string());
const optionalString = z.string().optional();

export const CONFIG_KEYS = {
  // LLM
  "llm.api_type": z.enum(["openai", "azure", "azure_ad", "ollama", "mock"]).default("openai"),
  "llm.api_base": z.string().default("https://api.openai.com/v1"),
  "llm.api_key": optionalString,
  "llm.model": optionalString,
  "llm.response_format": z.enum(["json_object", "json_schema", "text"]).default("json_object"),
  /** Azure OpenAI data-plane API version; 2024-09-01 and later report token usage of streamed answers. */
  "llm.azure.api_version": z.string().default("2024-10-21"),
  "llm.embedding_api_type": optionalString,
  "llm.embedding_model": optionalString,
  "llm.openai.temperature": z.number().default(0),
  "llm.openai.max_tokens": z.number().int().positive().optional(),
  "llm.openai.seed": z.number().int().optional(),
  "llm.request_timeout": z.number().positive().default(120),
  "llm.max_retries": z.number().int().min(0).default(3),
  "llm.stream": z.boolean().default(true),
  "llm.use_mock": z.boolean().default(false),
  "llm.mock.mode": z.enum(["playback_or_record", "playback_only", "record_only", "fixed"]).default("playback_or_record"),
  "llm.mock.cache_path": z.string().default("${AppBaseDir}/cache/mock.yaml"),
  "llm.mock.fixed_response": optionalString,
  /**
   * US dollars per million tokens by model name, e.g. `{ "gpt-4o": { "input": 2.5, "output": 10,
   * "cached_input": 1.25 } }`; rounds of a priced model show a cost.
   */
  "llm.pricing": z
    .record(
      z.string(),
      z.object({
        input: z.number().nonnegative(),
        output: z.number().nonnegative(),
        cached_input: z.number().nonnegative().optional(),
      }),
    )
    .default({}),
  "ext_llms.llm_configs": z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
  // Session
  "session.roles": stringList.default(["planner", "code_interpreter"]),
  "session.max_internal_chat_round_num": z.number().int().positive().default(10),
  "session.experience_dir": z.string().default("${AppBaseDir}/experience"),
  "workspace.workspace_path": z.string().default("${AppBaseDir}/workspace"),
  // Planner
  "planner.max_self_correction": z.number().int().min(0).default(3),
  "planner.llm_alias": optionalString,
  "planner.use_example": z.boolean().default(true),
  "planner.example_base_path": z.string().default("${AppBaseDir}/examples/planner_examples"),
  "planner.use_experience": z.boolean().default(false),
  "planner.prompt_compression": z.boolean().default(false),
  // Code interpreter and generator
  "code_interpreter.max_retry_count": z.number().int().min(0).default(3),
  "code_interpreter.code_verification_on": z.boolean().default(false),
  "code_interpreter.allowed_modules": stringList.default([
    "pandas",
    "matplotlib",
    "numpy",
    "sklearn",
    "scipy",
    "seaborn",
    "datetime",
    "typing",
  ]),
  "code_interpreter.blocked_functions": stringList.default([...DEFAULT_BLOCKED_FUNCTIONS]),
  // Unset means no check; an allowed list and a blocked list of one kind exclude each other.
  "code_interpreter.blocked_modules": stringList.optional(),
  "code_interpreter.allowed_functions": stringList.optional(),
  "code_interpreter.allowed_variables": stringList.optional(),
  "code_interpreter.code_prefix": z.string().default(""),
  /** Ask before any code runs; the frontend (or `approveExecution`) decides. */
  "code_interpreter.require_confirmation": z.boolean().default(false),
  /** Seconds to wait for an approval decision before the code is rejected as timed out. */
  "code_interpreter.confirmation_timeout": z.number().positive().default(300),
  "code_generator.llm_alias": optionalString,
  "code_generator.load_plugin": z.boolean().default(true),
  "code_generator.enable_auto_plugin_selection": z.boolean().default(false),
  "code_generator.auto_plugin_selection_topk": z.number().int().positive().default(3),
  "code_generator.use_example": z.boolean().default(true),
  "code_generator.example_base_path": z.string().default("${AppBaseDir}/examples/code_generator_examples"),
  "code_generator.use_experience": z.boolean().default(false),
  "code_generator.prompt_compression": z.boolean().default(false),
  "round_compressor.rounds_to_compress": z.number().int().positive().default(2),
  "round_compressor.rounds_to_retain": z.number().int().positive().default(3),
  "experience.retrieve_threshold": z.number().default(0.2),
  // Extra roles (roles/extra-roles.ts)
  "echo.decorator": z.string().default(""),
  "image_reader.llm_alias": optionalString,
  // Execution
  "execution_service.kernel_mode": z.enum(["local", "container", "remote"]).default("local"),
  "execution_service.execution_timeout": z.number().positive().default(300),
  "execution_service.python": optionalString,
  "execution_service.max_output_chars": z.number().int().positive().default(100_000),
  /**
   * Bytes a session's working directory may hold (with a sandbox's private /tmp): an execution
   * that writes past it is stopped, said to the model, and the session goes on. Every runtime.
   * @default 2147483648 (2 GiB)
   */
  "execution_service.max_workdir_bytes": z.number().int().positive().default(2 * 1024 ** 3),
  "execution_service.custom_image": optionalString,
  /** Seconds a local kernel may take to answer after it is spawned (a busy or slow machine may need more). @default 60 */
  "execution_service.local.start_timeout": z.number().positive().default(60),
  /**
   * Local kernels in a bubblewrap sandbox: "bwrap" always (an error when bwrap does not work),
   * "none" never, "auto" when `bwrap` works (said once on stderr when it does not). @default "auto"
   */
  "execution_service.local.sandbox": z.enum(["auto", "bwrap", "none"]).default("auto"),
  /** Sandboxed local kernels keep the host's network (else they have none, loopback included). @default false */
  "execution_service.local.network": z.boolean().default(false),
  /** Address space (RLIMIT_AS) of a sandboxed local kernel, as "4g"/"512m"; virtual, so above the container's memory. @default "4g" */
  "execution_service.local.memory": z.string().default("4g"),
  /** Processes (RLIMIT_NPROC) of a sandboxed local kernel's user; not enforced for root. @default 256 */
  "execution_service.local.pids_limit": z.number().int().positive().default(256),
  /** CPU seconds (RLIMIT_CPU) a sandboxed local kernel may use in its life; unset: no limit. @default unset */
  "execution_service.local.cpu_time": z.number().positive().optional(),
  /**
   * Kernels started ahead, per app, so a new session is ready at once (local processes, Docker
   * containers or remote kernels, by kernel_mode); 0 turns the warm pool off. @default 0
   */
  "execution_service.warm_pool_size": z.number().int().nonnegative().default(0),
  /** Seconds a pooled kernel may wait unused before it is stopped (refilled on next demand). @default 600 */
  "execution_service.warm_pool_idle_timeout": z.number().positive().default(600),
  /**
   * Kernel snapshots: the most bytes of a kernel's state saved when its kernel is stopped on
   * purpose (idle timeout, server shutdown, `/save-state`, `POST .../snapshot`), restored by the
   * session's next kernel. Values are taken in the order they were defined; one that does not fit
   * in what is left is named as lost. 0 turns snapshots off. @default 268435456 (256 MiB)
   */
  "execution_service.snapshot_max_bytes": z.number().int().nonnegative().default(256 * 1024 * 1024),
  /**
   * How kernels start: "spawn" runs a new Python per kernel; "fork" forks it from a template
   * process that has `preload_modules` imported and ipykernel prepared (Linux). Local kernels,
   * sandboxed or not, fork from a template on the host (a sandboxed one runs in bubblewrap and
   * each child isolates itself); in the container runtime the template is the container's main
   * process and a restart forks in the same container. "auto" forks local kernels where that is
   * supported (kernels wanted while the template still imports are spawned) and container
   * kernels when the warm pool is on. @default "auto"
   */
  "execution_service.kernel_start": z.enum(["auto", "fork", "spawn"]).default("auto"),
  /** Modules a fork template imports ahead, shared by its kernels (kernel_start "fork"/"auto"). @default ["numpy", "pandas", "matplotlib"] */
  "execution_service.preload_modules": stringList.default(["numpy", "pandas", "matplotlib"]),
  // Docker runtime (kernel_mode "container"): safe defaults, each can be loosened on purpose.
  "execution_service.docker.host": optionalString,
  "execution_service.docker.network_mode": z.string().default("none"),
  "execution_service.docker.memory": z.string().default("1g"),
  "execution_service.docker.cpus": z.number().positive().default(1),
  "execution_service.docker.pids_limit": z.number().int().positive().default(256),
  "execution_service.docker.user": z.string().default("10001:10001"),
  "execution_service.docker.read_only_root": z.boolean().default(true),
  "execution_service.docker.cap_drop": stringList.default(["ALL"]),
  "execution_service.docker.no_new_privileges": z.boolean().default(true),
  "execution_service.docker.tmpfs_size": z.string().default("256m"),
  "execution_service.docker.container_working_dir": z.string().default("/home/taskweaver/cwd"),
  "execution_service.docker.ipc_dir": z.string().default("/tmp/taskweaver-ipc"),
  "execution_service.docker.python": z.string().default("python3"),
  "execution_service.docker.start_timeout": z.number().positive().default(60),
  // Remote runtime (kernel_mode "remote"): a Jupyter Server, Kernel Gateway or Enterprise Gateway.
  "execution_service.remote.url": optionalString,
  "execution_service.remote.token": optionalString,
  "execution_service.remote.kernel_name": z.string().default("python3"),
  "execution_service.remote.working_directory": optionalString,
  "execution_service.remote.start_timeout": z.number().positive().default(60),
  /** `KERNEL_USERNAME` sent at kernel start (Enterprise Gateway); unset: the session's owner in the API, else "taskweaver". */
  "execution_service.remote.kernel_username": optionalString,
  /** `KERNEL_NAMESPACE` sent at kernel start (Enterprise Gateway on Kubernetes); unset sends none. */
  "execution_service.remote.kernel_namespace": optionalString,
  // Plugins
  "plugin.base_path": z.string().default("${AppBaseDir}/plugins"),
  /**
   * MCP servers whose tools the generated code calls as `<server>.<tool>(...)`, in the common
   * `mcpServers` shape: `{ "name": { "command", "args", "env" } }` (stdio) or
   * `{ "name": { "url", "headers" } }` (Streamable HTTP). @default {}
   */
  "mcp.servers": McpServersSchema,
  /** Seconds an MCP server may take to start and list its tools before it is reported as failed. @default 30 */
  "mcp.start_timeout": z.number().positive().default(30),
  // HTTP API (apps/api)
  "api.keys": stringList.default([]),
  "api.database_path": z.string().default("${AppBaseDir}/workspace/taskweaver-api.sqlite"),
  "api.max_sessions": z.number().int().positive().default(64),
  "api.max_concurrent_kernel_starts": z.number().int().positive().default(4),
  "api.max_body_bytes": z.number().int().positive().default(1_048_576),
  "api.max_upload_bytes": z.number().int().positive().default(52_428_800),
  "api.max_message_chars": z.number().int().positive().default(20_000),
  "api.session_idle_timeout": z.number().positive().default(1_800),
  "api.shutdown_grace_period": z.number().min(0).default(30),
  /** PostgreSQL URL of the session store (several instances share it); unset keeps SQLite at `api.database_path`. */
  "api.database_url": optionalString,
  /** Seconds without a heartbeat after which another instance fails a round as `instance_lost`. */
  "api.instance_lost_timeout": z.number().positive().default(15),
  /** PostgreSQL schema of the session store's tables (several deployments or test runs on one database); unset: "public". */
  "api.database_schema": optionalString,
  /** This API process's name in round leases and commands; unset: `<hostname>-<pid>-<random>`. */
  "api.instance_id": optionalString,
  // Logging
  "logging.log_folder": z.string().default("logs"),
  // Tracing (OpenTelemetry, set up by the apps; the core only calls @opentelemetry/api)
  /**
   * Export traces and metrics over OTLP/HTTP. Also on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
   * @default false
   */
  "tracing.enabled": z.boolean().default(false),
  /**
   * Base URL of the OTLP/HTTP receiver; `/v1/traces` and `/v1/metrics` are appended.
   * `OTEL_EXPORTER_OTLP_ENDPOINT` wins when set. @default http://localhost:4318
   */
  "tracing.endpoint": optionalString,
  /** OTLP/HTTP encoding; `OTEL_EXPORTER_OTLP_PROTOCOL` wins when set. @default http/protobuf */
  "tracing.protocol": z.enum(["http/protobuf", "http/json"]).default("http/protobuf"),
  /** `service.name` of the exported telemetry; `OTEL_SERVICE_NAME` wins when set. @default the app's (taskweaver or taskweaver-api) */
  "tracing.service_name": optionalString,
  /**
   * Put prompts, model answers, code and its output on the spans (`gen_ai.input.messages`,
   * `gen_ai.output.messages`, `gen_ai.tool.call.arguments` / `result`). They may hold personal
   * or secret data. @default false
   */
  "tracing.record_content": z.boolean().default(false),
  /**
   * Share of new traces that are recorded and exported, from 0 to 1. Parent-based: a caller's
   * `traceparent` decides for its own trace. Metrics are never sampled. `OTEL_TRACES_SAMPLER` and
   * `OTEL_TRACES_SAMPLER_ARG` win when set. @default 1
   */
  "tracing.sample_ratio": z.number().min(0).max(1).default(1),
} satisfies Record<string, z.ZodType>;

export type ConfigKey = keyof typeof CONFIG_KEYS;
/** The typed value of every known key. */
export type ConfigValues = { [K in ConfigKey]: z.output<(typeof CONFIG_KEYS)[K]> };
