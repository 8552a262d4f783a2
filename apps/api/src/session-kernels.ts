import type { AppConfig } from "@taskweaver/core";
import { createRemoteExecutorFactory, type RemoteExecutorFactory } from "@taskweaver/executor";
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
  store: Pick<SessionStore, "setSessionKernel" | "getRoundLease">;
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
 * The remote runtime's executor factory for the API, with kernels kept on the server when an
 * executor stops (a restart or another instance attaches to them), plus their bookkeeping.
 * Fresh kernels never come from the warm pool: a pooled kernel is deleted when its executor
 * stops, which would defeat attaching to it later.
 */
export function createRemoteSessionKernels(options: RemoteSessionKernelsOptions): {
  createExecutor: RemoteExecutorFactory;
  kernels: SessionKernels;
} {
  const log = options.log ?? (() => {});
  const pending = new Map<string, string>();
  const current = new Map<string, SessionKernel>();

  /**
   * Only the instance holding the session's round lease records its kernel (leases are
   * exclusive, so two instances never overwrite each other's). A kernel started outside a round
   * (when the session was created) is recorded by the round that uses it (`SessionManager`).
   */
  const record = async (sessionId: string, kernel: SessionKernel) => {
    const lease = await options.store.getRoundLease(sessionId);
    const holder = lease?.instanceId === options.instanceId() && lease.expiresAt.getTime() > Date.now();
    if (holder) await options.store.setSessionKernel(sessionId, kernel);
  };

  const createExecutor = createRemoteExecutorFactory(options.config, {
    ...(options.env ? { env: options.env } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
    persistentKernels: {
      attachTo(sessionId) {
        const kernelId = pending.get(sessionId);
        pending.delete(sessionId);
        return kernelId;
      },
      onKernelStarted(sessionId, started) {
        const kernel = { serverUrl: createExecutor.serverUrl, kernelId: started.kernelId };
        current.set(sessionId, kernel);
        if (started.attached) return;
        record(sessionId, kernel).catch((error: unknown) =>
          log(`recording the kernel of session ${sessionId} failed`, error),
        );
      },
    },
  });
  const onServer = (kernel: SessionKernel) => kernel.serverUrl === createExecutor.serverUrl;

  const kernels: SessionKernels = {
    attachNext(sessionId, kernel) {
      if (onServer(kernel)) pending.set(sessionId, kernel.kernelId);
    },
    async exists(kernel) {
      return onServer(kernel) && (await createExecutor.kernelExists(kernel.kernelId));
    },
    async interrupt(kernel) {
      if (onServer(kernel)) await createExecutor.interruptKernel(kernel.kernelId);
    },
    async remove(kernel) {
      for (const [sessionId, known] of current)
        if (known.kernelId === kernel.kernelId) current.delete(sessionId);
      if (onServer(kernel)) await createExecutor.deleteKernel(kernel.kernelId);
    },
    current: (sessionId) => current.get(sessionId),
  };
  return { createExecutor, kernels };
}
