/**
 * The contract every Python runtime implements (local kernel, Docker container, remote
 * Jupyter server). Core depends only on this file; `@taskweaver/executor` provides the
 * implementations and the application wires one in through `ExecutorFactory`.
 */

/** A chunk of output printed while code runs. */
export interface ExecutionOutput {
  stream: "stdout" | "stderr";
  text: string;
}

/** Options of one `execute` call. */
export interface ExecuteOptions {
  /** Called for every stdout/stderr chunk as the kernel produces it. */
  onOutput?: (output: ExecutionOutput) => void;
  /** Aborting interrupts the running code; `execute` then resolves with `outcome: "interrupted"`. */
  signal?: AbortSignal;
  /**
   * Wall-clock limit. On expiry the kernel is interrupted (restarted if it does not answer)
   * and the result has `outcome: "timeout"`.
   * @default the runtime's configured `execution_timeout`
   */
  timeoutMs?: number;
  /** Id used to name artifacts of this execution. @default a generated id */
  executionId?: string;
}

/** Something the code produced besides text: an image, a chart, a data frame, a file. */
export interface Artifact {
  /** Short name, e.g. `figure_1`. */
  name: string;
  /** TaskWeaver's artifact type: `image`, `chart`, `df`, `file`, `txt`, `svg`, `html`. */
  type: "image" | "chart" | "df" | "file" | "txt" | "svg" | "html";
  /** MIME type of the saved file, e.g. `image/png`. */
  mimeType: string;
  /** Path of the file relative to the session's working directory. */
  path: string;
  /** One-line description for the model and the user. */
  description: string;
}

/** A rich display (the `data` bundle of a Jupyter `display_data`/`execute_result`). */
export interface RichDisplay {
  /** MIME type to content (base64 for binary types, text otherwise). */
  data: Record<string, string>;
}

/** How an execution ended. */
export type ExecutionOutcome = "ok" | "error" | "timeout" | "interrupted" | "kernel-died";

/** The result of running one piece of code. */
export interface ExecutionResult {
  executionId: string;
  code: string;
  /** True when the code ran to the end without raising. */
  isSuccess: boolean;
  outcome: ExecutionOutcome;
  /** The displayed value of the last expression or assignment (plain text), "" if none. */
  output: string;
  /** stdout chunks, possibly cut to the configured limit (see `truncated`). */
  stdout: string[];
  stderr: string[];
  /** Entries logged by plugins (`self.log`). */
  log: { level: string; message: string }[];
  /** Python error, traceback without ANSI colour codes. */
  error?: { name: string; value: string; traceback: string };
  artifacts: Artifact[];
  displays: RichDisplay[];
  /** True when kernel state (variables) was lost, e.g. after a restart; the model must be told. */
  stateLost: boolean;
  /** Human-readable notes: what was cut, what the runtime did on timeout, ... */
  notes: string[];
  /** Wall-clock milliseconds from sending the code to the reply. */
  durationMs: number;
}

/** A plugin ready to be loaded into a kernel. */
export interface PluginLoadSpec {
  name: string;
  /** Python source of the plugin module. */
  code: string;
  /** The plugin's `configurations`, available as `self.config`. */
  config: Record<string, unknown>;
}

/** Whether a plugin handed to `loadPlugin` is usable in the current kernel. */
export interface PluginLoadState {
  name: string;
  loaded: boolean;
  /**
   * Why it is not, in one line without the plugin's source, e.g.
   * `ModuleNotFoundError: No module named 'requests'`.
   */
  error?: string;
}

/** Whether a plugin of the app is usable in a session's kernel, and if not, what to do. */
export interface PluginStatus {
  name: string;
  loaded: boolean;
  /** The Python error's last line, e.g. `ModuleNotFoundError: No module named 'requests'`. */
  error?: string;
  /** The plugin's Python file, relative to the app directory when inside it. */
  file?: string;
  /** What the user can do about it. */
  hint?: string;
}

export interface FileInfo {
  /** Path relative to the working directory, `/`-separated. */
  name: string;
  size: number;
  modifiedAt: string;
}

/** Describes a running executor, for `/info` and the API. */
export interface ExecutorInfo {
  /** `local`, `container` or `remote`. */
  kind: string;
  /** Free-form details: Python path, image, server URL. */
  details: Record<string, string>;
}

/**
 * Memory of the running kernel process, in bytes, as Linux accounts it. Read when asked (it walks
 * the process's page tables), never on the way of an execution.
 */
export interface ExecutorMemory {
  /** Resident set size: every page mapped in, shared ones counted in full. */
  rssBytes: number;
  /**
   * Proportional set size: each shared page divided by the processes that map it. For kernels
   * forked from a template, the template's pages they still share are split between them.
   */
  pssBytes: number;
  /** Unique set size (private pages): what stopping this kernel gives back. */
  ussBytes: number;
}

/**
 * A request the running code makes of the host while it runs, e.g. an MCP tool call from
 * `everything.get_sum(a=2, b=3)`: JSON from the kernel, answered with JSON. It travels over the
 * kernel's own channel (Jupyter stdin), so the kernel needs no network access.
 */
export interface HostCall {
  /** What is asked, e.g. `mcp-tool-call`. */
  kind: string;
  [field: string]: unknown;
}

/** Options a `HostCallHandler` receives. */
export interface HostCallOptions {
  /** Aborted when the execution that made the call times out, is interrupted or ends. */
  signal: AbortSignal;
  /** The execution that made the call. */
  executionId: string;
}

/**
 * Answers host calls. Resolves with the JSON value handed back to the kernel; a rejection
 * reaches the kernel as `{"error": {"type": "HostCallError", "message": ...}}`.
 */
export type HostCallHandler = (call: HostCall, options: HostCallOptions) => Promise<unknown>;

/** A name of the kernel's namespace that a snapshot did not keep, and why. */
export interface SnapshotLoss {
  name: string;
  /** One line, e.g. `cannot be pickled (generator, TypeError: cannot pickle 'generator' object)`. */
  reason: string;
}

/** A module bound in the kernel's namespace, saved by name (`pd` -> `pandas`). */
export interface SnapshotModule {
  /** The name it is bound to in the namespace. */
  name: string;
  /** The module's import name. */
  module: string;
}

/** What `CodeExecutor.saveSnapshot` took from the kernel. */
export interface KernelSnapshot {
  /** The kernel's own serialized state; only a kernel of the same kind reads it. */
  payload: Uint8Array;
  /** `dill` (functions and classes defined in the session are kept) or `pickle`. */
  serializer: "dill" | "pickle";
  /** Values saved, by name, with their Python type name. */
  saved: { name: string; type: string }[];
  modules: SnapshotModule[];
  /** Values not saved: unpicklable, too large, functions without dill. */
  lost: SnapshotLoss[];
}

/** What `CodeExecutor.restoreSnapshot` put back into a fresh kernel. */
export interface SnapshotRestoreResult {
  /** Values restored, by name, with their Python type name. */
  restored: { name: string; type: string }[];
  modules: SnapshotModule[];
  /** Names not restored: lost when saving, or failing now (a module missing, a class gone). */
  lost: SnapshotLoss[];
  /** Set when the snapshot could not be read at all; the kernel is then left as it was. */
  error?: string;
}

export interface CodeExecutor {
  readonly info: ExecutorInfo;
  /** Absolute path of the working directory on the host, when the host can see it. */
  readonly workingDirectory: string | undefined;
  /** Starts the kernel; idempotent. Resolves when the kernel answers. */
  start(options?: { signal?: AbortSignal }): Promise<void>;
  execute(code: string, options?: ExecuteOptions): Promise<ExecutionResult>;
  /**
   * Loads a plugin into the kernel (and into every later kernel of this executor). A plugin
   * whose own code fails to load resolves with `loaded: false`: the kernel keeps working, and
   * calling the plugin there raises an error that names it and the reason. Rejects only when
   * the executor itself fails (stopped, kernel died, a name that is not a Python identifier).
   */
  loadPlugin(plugin: PluginLoadSpec): Promise<PluginLoadState>;
  /**
   * The state of every plugin loaded so far, as of the current kernel (a restart loads them
   * again). Executors without plugin support may leave it out.
   */
  readonly pluginStates?: readonly PluginLoadState[];
  setSessionVariables(variables: Record<string, string>): Promise<void>;
  /**
   * Sets who answers the host calls of code run by `execute` (MCP tool calls); `undefined`
   * removes it. Executors without a kernel channel for it may leave it out.
   */
  setHostCallHandler?(handler: HostCallHandler | undefined): void;
  /**
   * The kernel process's memory now; undefined when no kernel is running or the runtime cannot
   * tell (not Linux, a remote kernel). Executors that cannot measure may leave it out.
   */
  readMemory?(): Promise<ExecutorMemory | undefined>;
  uploadFile(name: string, data: Uint8Array): Promise<FileInfo>;
  downloadFile(name: string): Promise<Uint8Array>;
  listFiles(): Promise<FileInfo[]>;
  /** Interrupts running code (SIGINT / interrupt_request). */
  interrupt(): Promise<void>;
  /** Restarts the kernel; variables are lost, files stay. */
  restart(): Promise<void>;
  /** Stops the kernel and frees its resources; idempotent. */
  stop(): Promise<void>;
  /**
   * Takes the picklable part of the kernel's namespace (values, modules by name, functions
   * where the kernel has `dill`), at most `maxBytes` of it; `undefined` when no kernel runs.
   * Executors without snapshot support leave it out.
   */
  saveSnapshot?(options: { maxBytes: number }): Promise<KernelSnapshot | undefined>;
  /**
   * Puts a snapshot's payload back into the kernel (starting it if needed). Never rejects for
   * a bad payload: the result says what came back, what did not and why.
   */
  restoreSnapshot?(payload: Uint8Array): Promise<SnapshotRestoreResult>;
}

/** What a session hands to the factory when it needs a kernel. */
export interface ExecutorRequest {
  sessionId: string;
  /** Host path of the session's working directory (`<app>/workspace/sessions/<id>/cwd`). */
  workingDirectory: string;
}

/**
 * Creates an executor for a session. Provided by the application (see `@taskweaver/executor`).
 * A factory that keeps resources of its own (a warm pool of kernels) frees them in `dispose`,
 * which `TaskWeaverApp.close()` calls.
 */
export type ExecutorFactory = ((request: ExecutorRequest) => CodeExecutor | Promise<CodeExecutor>) & {
  dispose?: () => Promise<void>;
};
