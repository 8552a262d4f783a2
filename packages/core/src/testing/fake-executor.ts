import type { CodeExecutor, ExecutionResult, FileInfo } from "../executor/contract.js";

/** A complete ExecutionResult from the fields a test cares about (a success printing nothing by default). */
export function fakeExecutionResult(partial: Partial<ExecutionResult> = {}): ExecutionResult {
  return {
    executionId: "exec",
    code: "",
    isSuccess: partial.isSuccess ?? true,
    outcome: partial.outcome ?? (partial.isSuccess === false ? "error" : "ok"),
    output: "",
    stdout: [],
    stderr: [],
    log: [],
    artifacts: [],
    displays: [],
    stateLost: false,
    notes: [],
    durationMs: 1,
    ...partial,
  };
}

/**
 * A CodeExecutor for unit tests of the loop: `run` decides each result. The real runtimes
 * are tested in @taskweaver/executor and end to end.
 */
export function createFakeExecutor(run: (code: string) => Partial<ExecutionResult>) {
  const executed: string[] = [];
  const files = new Map<string, Uint8Array>();
  let stopped = false;
  const executor: CodeExecutor & { executed: string[]; isStopped: () => boolean } = {
    info: { kind: "fake", details: {} },
    workingDirectory: undefined,
    executed,
    isStopped: () => stopped,
    async start() {},
    async execute(code, options) {
      executed.push(code);
      const partial = run(code);
      for (const text of partial.stdout ?? []) options?.onOutput?.({ stream: "stdout", text });
      return fakeExecutionResult({ executionId: `exec-${executed.length}`, code, ...partial });
    },
    async loadPlugin(plugin) {
      return { name: plugin.name, loaded: true };
    },
    async setSessionVariables() {},
    async uploadFile(name, data) {
      files.set(name, data);
      return { name, size: data.length, modifiedAt: new Date().toISOString() } satisfies FileInfo;
    },
    async downloadFile(name) {
      return files.get(name) ?? new Uint8Array();
    },
    async listFiles() {
      return [...files].map(([name, data]) => ({ name, size: data.length, modifiedAt: "" }));
    },
    async interrupt() {},
    async restart() {},
    async stop() {
      stopped = true;
    },
  };
  return executor;
}
