import type { AppConfig, ExecutorFactory } from "@taskweaver/core";
import { createJupyterRestClient, createRemoteExecutor, resolveRemoteSettings } from "@taskweaver/executor";
import type { SessionKernel, SessionStore } from "./store/session-store.js";

/**
 * The remote kernels of sessions (kernel mode `remote`), which outlive the API process that
 * started them: their place is stored with the session, the next process attaches to them.
 */
export interface SessionKernels {
  /** Makes the next executor of the session attach to `kernel` instead of starting one. */
  attachNext(sessionId: string, kernel: SessionKernel): void;
  /** True when the server still runs the kernel (and it is on the configured server). */
  exists(kernel: SessionKernel): Promise<boolean>;
  /** Interrupts what the kernel runs (a round of a lost instance). */
  interrupt(kernel: SessionKernel): Promise<void>;
  /** Deletes the kernel on the server. */
  remove(kernel: SessionKernel): Promise<void>;
  /** The kernel this process's executor of the session uses, if it started or attached one. */
  current(sessionId: string): SessionKernel | undefined;
}

/** Options of {@link createRemoteSessionKernels}. */
export interface RemoteSessionKernelsOptions {
  config: AppConfig;
  /** Where sessions' kernels are recorded. */
  store: Pick<SessionStore, "setSessionKernel" | "getSession" | "getRoundLease">;
  /** This process's instance id (read when a kernel starts). */
  instanceId: () => string;
  /** @default process.env (for `JUPYTER_TOKEN`) */
  env?: Record<string, string | undefined>;
  /** Told when recording a kernel fails. @default ignored */
  log?: (message: string, error?: unknown) => void;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/**
 * The executor factory of the remote runtime for the API, with kernels kept on the server when
 * an executor stops (a restart or another instance attaches to them), plus their bookkeeping.
 * A fresh kernel never comes from the warm pool: a pooled kernel is deleted when its executor
 * stops, which would defeat attaching to it later.
 */
export function createRemoteSessionKernels(options: RemoteSessionKernelsOptions): {
  createExecutor: ExecutorFactory;
  kernels: SessionKernels;
} {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => {});
  const checked = resolveRemoteSettings(options.config, "check", env);
  const rest = createJupyterRestClient({
    baseUrl: checked.baseUrl,
    token: checked.token,
    fetch: options.fetch,
  });
  const serverUrl = checked.baseUrl.href;
  const pending = new Map<string, string>();
  const current = new Map<string, SessionKernel>();
  const onServer = (kernel: SessionKernel) => kernel.serverUrl === serverUrl;

  /**
   * The kernel of the instance running the session's round is the session's kernel; another
   * instance's kernel (one started when the session was created, before a round elsewhere
   * recorded its own) is recorded only while the session has none.
   */
  const record = async (sessionId: string, kernel: SessionKernel) => {
    const lease = await options.store.getRoundLease(sessionId);
    const holder = lease?.instanceId === options.instanceId() && lease.expiresAt.getTime() > Date.now();
    if (!holder && (await options.store.getSession(sessionId))?.kernel) return;
    await options.store.setSessionKernel(sessionId, kernel);
  };

  const createExecutor: ExecutorFactory = (request) => {
    const settings = resolveRemoteSettings(options.config, request.sessionId, env);
    const kernelId = pending.get(request.sessionId);
    pending.delete(request.sessionId);
    return createRemoteExecutor({
      url: settings.baseUrl,
      token: settings.token,
      kernelName: settings.kernelName,
      workingDirectory: settings.workingDirectory,
      sessionId: request.sessionId,
      executionTimeoutMs: settings.executionTimeoutMs,
      maxOutputChars: settings.maxOutputChars,
      startTimeoutMs: settings.startTimeoutMs,
      kernelEnv: settings.kernelEnv,
      fetch: options.fetch,
      ...(kernelId ? { kernelId } : {}),
      keepKernelOnStop: true,
      onKernelStarted: (started) => {
        const kernel = { serverUrl, kernelId: started.kernelId };
        current.set(request.sessionId, kernel);
        if (started.attached) return;
        record(request.sessionId, kernel).catch((error: unknown) =>
          log(`recording the kernel of session ${request.sessionId} failed`, error),
        );
      },
    });
  };

  const kernels: SessionKernels = {
    attachNext(sessionId, kernel) {
      if (onServer(kernel)) pending.set(sessionId, kernel.kernelId);
    },
    async exists(kernel) {
      return onServer(kernel) && (await rest.getKernel(kernel.kernelId)) !== undefined;
    },
    async interrupt(kernel) {
      if (onServer(kernel)) await rest.interruptKernel(kernel.kernelId);
    },
    async remove(kernel) {
      for (const [sessionId, known] of current)
        if (known.kernelId === kernel.kernelId) current.delete(sessionId);
      if (onServer(kernel)) await rest.deleteKernel(kernel.kernelId);
    },
    current: (sessionId) => current.get(sessionId),
  };
  return { createExecutor, kernels };
}
