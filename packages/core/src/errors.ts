/**
 * Every `code` a TaskWeaverError of the workspace can carry. Closed, so a frontend's mapping of
 * codes (statuses, hints) is checked by the compiler; a new code is added here first.
 */
export type TaskWeaverErrorCode =
  // Configuration and the model
  | "config_invalid"
  | "llm_not_configured"
  | "llm_request_invalid"
  | "llm_response_error"
  | "mock_answer_missing"
  // Sessions and rounds
  | "aborted"
  | "round_limit_exceeded"
  | "round_in_progress"
  | "session_stopped"
  | "unknown_role"
  | "planner_invalid_response"
  | "snapshot_unavailable"
  | "snapshot_failed"
  | "internal_error"
  // Experience, plugins, code verification
  | "experience_unavailable"
  | "experience_bad_summary"
  | "experience_invalid_file"
  | "experience_invalid_id"
  | "experience_nothing_to_save"
  | "plugin_load_failed"
  | "python_parse_failed"
  | "python_parser_unavailable"
  // Executors and kernels (@taskweaver/executor)
  | "execution_timeout"
  | "kernel_died"
  | "kernel_message_invalid"
  | "kernel_setup_failed"
  | "executor_unavailable"
  | "executor_stopped"
  | "invalid_argument"
  | "docker_api_error"
  | "remote_http_error"
  | "remote_file_error"
  | "jupyter_server_unavailable"
  // Files of a session's working directory
  | "path_outside_workdir"
  | "file_not_found"
  // The HTTP API (@taskweaver/api)
  | "validation_failed"
  | "not_found"
  | "unauthorized"
  | "payload_too_large"
  | "message_too_long"
  | "expected_multipart"
  | "invalid_multipart"
  | "invalid_file_name"
  | "invalid_last_event_id"
  | "file_conflict"
  | "unknown_file"
  | "session_limit_reached"
  | "method_not_allowed"
  | "unsupported_media_type"
  | "store_unavailable"
  | "shutting_down"
  | "approval_answered"
  | "approval_closed";

const taskWeaverErrorMarker = Symbol.for("taskweaver.error");

/**
 * Every error that crosses a package boundary is a TaskWeaverError with a stable `code`,
 * so callers (the TUI, the API's error mapper) can branch on it without string matching.
 *
 * Check an error with `SomeError.isInstance(error)`: each class carries its own
 * `Symbol.for` marker, which survives duplicated module copies where `instanceof` would not.
 * A subclass in another package declares its own marker the same way and checks it with
 * `TaskWeaverError.hasMarker`.
 */
export class TaskWeaverError extends Error {
  /** Stable, machine-readable identifier, e.g. `config_invalid`. */
  readonly code: TaskWeaverErrorCode;
  private readonly [taskWeaverErrorMarker] = true;

  constructor(code: TaskWeaverErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }

  /** True for any TaskWeaverError, whatever its subclass. */
  static isInstance(value: unknown): value is TaskWeaverError {
    return TaskWeaverError.hasMarker(value, taskWeaverErrorMarker);
  }

  /** Whether `value` carries `marker` (a subclass's `Symbol.for` marker) set to true. */
  protected static hasMarker(value: unknown, marker: symbol): boolean {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[marker] === true;
  }
}

const configErrorMarker = Symbol.for("taskweaver.error.ConfigError");

/** The configuration could not be read or a value is wrong. */
export class ConfigError extends TaskWeaverError {
  private readonly [configErrorMarker] = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super("config_invalid", message, options);
  }

  static override isInstance(value: unknown): value is ConfigError {
    return TaskWeaverError.hasMarker(value, configErrorMarker);
  }
}

const llmNotConfiguredErrorMarker = Symbol.for("taskweaver.error.LlmNotConfiguredError");

/** No language model is configured (no model name, key or mock). */
export class LlmNotConfiguredError extends TaskWeaverError {
  private readonly [llmNotConfiguredErrorMarker] = true;
  /** The keys the user should set, in config-file notation. */
  readonly missingKeys: string[];
  constructor(message: string, missingKeys: string[]) {
    super("llm_not_configured", message);
    this.missingKeys = missingKeys;
  }

  static override isInstance(value: unknown): value is LlmNotConfiguredError {
    return TaskWeaverError.hasMarker(value, llmNotConfiguredErrorMarker);
  }
}

const llmResponseErrorMarker = Symbol.for("taskweaver.error.LlmResponseError");

/** The model endpoint failed (after retries) or answered something unusable. */
export class LlmResponseError extends TaskWeaverError {
  private readonly [llmResponseErrorMarker] = true;
  /** HTTP status of the last failed call, when there was one. */
  readonly status: number | undefined;
  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super("llm_response_error", message, options);
    this.status = options?.status;
  }

  static override isInstance(value: unknown): value is LlmResponseError {
    return TaskWeaverError.hasMarker(value, llmResponseErrorMarker);
  }
}

const mockAnswerMissingErrorMarker = Symbol.for("taskweaver.error.MockAnswerMissingError");

/**
 * The record/replay model (`llm.use_mock`) has no recorded answer for a request and is not
 * allowed to ask a real model (`llm.mock.mode` "playback_only", or no model configured).
 * Frontends can say what the recording knows instead of showing a cache key.
 */
export class MockAnswerMissingError extends TaskWeaverError {
  private readonly [mockAnswerMissingErrorMarker] = true;
  /** The cache file that was searched. */
  readonly cachePath: string;
  /** The start of the last user message of the request. */
  readonly requestPreview: string;
  constructor(message: string, options: { cachePath: string; requestPreview: string }) {
    super("mock_answer_missing", message);
    this.cachePath = options.cachePath;
    this.requestPreview = options.requestPreview;
  }

  static override isInstance(value: unknown): value is MockAnswerMissingError {
    return TaskWeaverError.hasMarker(value, mockAnswerMissingErrorMarker);
  }
}

const roundLimitExceededErrorMarker = Symbol.for("taskweaver.error.RoundLimitExceededError");

/** A round went past `session.max_internal_chat_round_num` without replying to the user. */
export class RoundLimitExceededError extends TaskWeaverError {
  private readonly [roundLimitExceededErrorMarker] = true;
  readonly limit: number;
  constructor(limit: number) {
    super(
      "round_limit_exceeded",
      `The round was stopped after ${limit} internal steps without an answer to the user ` +
        `(session.max_internal_chat_round_num = ${limit}). Try a smaller request, or raise the limit.`,
    );
    this.limit = limit;
  }

  static override isInstance(value: unknown): value is RoundLimitExceededError {
    return TaskWeaverError.hasMarker(value, roundLimitExceededErrorMarker);
  }
}

const roleErrorMarker = Symbol.for("taskweaver.error.RoleError");

/** A role gave up (e.g. the Planner failed to produce a valid answer after its corrections). */
export class RoleError extends TaskWeaverError {
  private readonly [roleErrorMarker] = true;
  constructor(code: TaskWeaverErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }

  static override isInstance(value: unknown): value is RoleError {
    return TaskWeaverError.hasMarker(value, roleErrorMarker);
  }
}

const abortedErrorMarker = Symbol.for("taskweaver.error.AbortedError");

/** The operation was cancelled through an AbortSignal. */
export class AbortedError extends TaskWeaverError {
  private readonly [abortedErrorMarker] = true;
  constructor(message = "The operation was cancelled.") {
    super("aborted", message);
  }

  static override isInstance(value: unknown): value is AbortedError {
    return TaskWeaverError.hasMarker(value, abortedErrorMarker);
  }
}

const executionTimeoutErrorMarker = Symbol.for("taskweaver.error.ExecutionTimeoutError");

/** Code ran longer than the configured execution timeout. */
export class ExecutionTimeoutError extends TaskWeaverError {
  private readonly [executionTimeoutErrorMarker] = true;
  constructor(message: string) {
    super("execution_timeout", message);
  }

  static override isInstance(value: unknown): value is ExecutionTimeoutError {
    return TaskWeaverError.hasMarker(value, executionTimeoutErrorMarker);
  }
}

const kernelDiedErrorMarker = Symbol.for("taskweaver.error.KernelDiedError");

/** The Python kernel process died or could not be reached. */
export class KernelDiedError extends TaskWeaverError {
  private readonly [kernelDiedErrorMarker] = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super("kernel_died", message, options);
  }

  static override isInstance(value: unknown): value is KernelDiedError {
    return TaskWeaverError.hasMarker(value, kernelDiedErrorMarker);
  }
}

const executorUnavailableErrorMarker = Symbol.for("taskweaver.error.ExecutorUnavailableError");

/** A runtime could not be started (no Python with ipykernel, no Docker, server unreachable). */
export class ExecutorUnavailableError extends TaskWeaverError {
  private readonly [executorUnavailableErrorMarker] = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super("executor_unavailable", message, options);
  }

  static override isInstance(value: unknown): value is ExecutorUnavailableError {
    return TaskWeaverError.hasMarker(value, executorUnavailableErrorMarker);
  }
}

const fileAccessErrorMarker = Symbol.for("taskweaver.error.FileAccessError");

/** A file path tried to leave the session's working directory, or does not exist. */
export class FileAccessError extends TaskWeaverError {
  private readonly [fileAccessErrorMarker] = true;
  declare readonly code: "path_outside_workdir" | "file_not_found";
  constructor(code: "path_outside_workdir" | "file_not_found", message: string) {
    super(code, message);
  }

  static override isInstance(value: unknown): value is FileAccessError {
    return TaskWeaverError.hasMarker(value, fileAccessErrorMarker);
  }
}

/** Turns anything thrown into a TaskWeaverError without losing the original as `cause`. */
export function toTaskWeaverError(error: unknown): TaskWeaverError {
  if (TaskWeaverError.isInstance(error)) return error;
  if (error instanceof Error && error.name === "AbortError") return new AbortedError();
  const message = error instanceof Error ? error.message : String(error);
  return new TaskWeaverError("internal_error", message, { cause: error });
}
