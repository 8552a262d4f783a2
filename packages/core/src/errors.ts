/**
 * Every error that crosses a package boundary is a TaskWeaverError with a stable `code`,
 * so callers (the TUI, the API's error mapper) can branch on it without string matching.
 */
export class TaskWeaverError extends Error {
  /** Stable, machine-readable identifier, e.g. `config_invalid`. */
  readonly code: string;
  private readonly taskWeaverMarker = true;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }

  /** Works across duplicated module copies, where `instanceof` would not. */
  static isInstance(value: unknown): value is TaskWeaverError {
    return (
      typeof value === "object" &&
      value !== null &&
      (value as { taskWeaverMarker?: unknown }).taskWeaverMarker === true
    );
  }
}

/** The configuration could not be read or a value is wrong. */
export class ConfigError extends TaskWeaverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("config_invalid", message, options);
  }
}

/** No language model is configured (no model name, key or mock). */
export class LlmNotConfiguredError extends TaskWeaverError {
  /** The keys the user should set, in config-file notation. */
  readonly missingKeys: string[];
  constructor(message: string, missingKeys: string[]) {
    super("llm_not_configured", message);
    this.missingKeys = missingKeys;
  }
}

/** The model endpoint failed (after retries) or answered something unusable. */
export class LlmResponseError extends TaskWeaverError {
  /** HTTP status of the last failed call, when there was one. */
  readonly status: number | undefined;
  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super("llm_response_error", message, options);
    this.status = options?.status;
  }
}

/**
 * The record/replay model (`llm.use_mock`) has no recorded answer for a request and is not
 * allowed to ask a real model (`llm.mock.mode` "playback_only", or no model configured).
 * Frontends can say what the recording knows instead of showing a cache key.
 */
export class MockAnswerMissingError extends TaskWeaverError {
  /** The cache file that was searched. */
  readonly cachePath: string;
  /** The start of the last user message of the request. */
  readonly requestPreview: string;
  constructor(message: string, options: { cachePath: string; requestPreview: string }) {
    super("mock_answer_missing", message);
    this.cachePath = options.cachePath;
    this.requestPreview = options.requestPreview;
  }
}

/** A round went past `session.max_internal_chat_round_num` without replying to the user. */
export class RoundLimitExceededError extends TaskWeaverError {
  readonly limit: number;
  constructor(limit: number) {
    super(
      "round_limit_exceeded",
      `The round was stopped after ${limit} internal steps without an answer to the user ` +
        `(session.max_internal_chat_round_num = ${limit}). Try a smaller request, or raise the limit.`,
    );
    this.limit = limit;
  }
}

/** A role gave up (e.g. the Planner failed to produce a valid answer after its corrections). */
export class RoleError extends TaskWeaverError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The operation was cancelled through an AbortSignal. */
export class AbortedError extends TaskWeaverError {
  constructor(message = "The operation was cancelled.") {
    super("aborted", message);
  }
}

/** Code ran longer than the configured execution timeout. */
export class ExecutionTimeoutError extends TaskWeaverError {
  constructor(message: string) {
    super("execution_timeout", message);
  }
}

/** The Python kernel process died or could not be reached. */
export class KernelDiedError extends TaskWeaverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("kernel_died", message, options);
  }
}

/** A runtime could not be started (no Python with ipykernel, no Docker, server unreachable). */
export class ExecutorUnavailableError extends TaskWeaverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("executor_unavailable", message, options);
  }
}

/** A file path tried to leave the session's working directory, or does not exist. */
export class FileAccessError extends TaskWeaverError {
  constructor(code: "path_outside_workdir" | "file_not_found", message: string) {
    super(code, message);
  }
}

/** Turns anything thrown into a TaskWeaverError without losing the original as `cause`. */
export function toTaskWeaverError(error: unknown): TaskWeaverError {
  if (TaskWeaverError.isInstance(error)) return error;
  if (error instanceof Error && error.name === "AbortError") return new AbortedError();
  const message = error instanceof Error ? error.message : String(error);
  return new TaskWeaverError("internal_error", message, { cause: error });
}
