import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ExecutorUnavailableError } from "@taskweaver/core";
import {
  DEFAULT_PRELOAD_MODULES,
  forkOnce,
  type ForkedExit,
  type ForkedProcess,
  type ForkRequest,
  type ForkSandboxRequest,
  type ForkTemplateReady as ReadyLine,
} from "../internal/fork-protocol.js";
import { SUPPORT_CODE_PATH } from "../internal/support-code.js";
import { pythonFilePath } from "../python-files.js";

export { DEFAULT_PRELOAD_MODULES };
export type { ForkedExit, ForkedProcess, ForkRequest, ForkSandboxRequest };

/** Where the template's Python code lives: `python/` next to `src/` and `dist/` in the package. */
export const FORK_SERVER_PATH = pythonFilePath("taskweaver_fork_server.py");

/** Options of `startForkServer`. */
export interface ForkServerOptions {
  /** Python with ipykernel that runs the template and, through fork, every kernel. */
  python: string;
  /** Modules imported in the template. @default DEFAULT_PRELOAD_MODULES */
  preloadModules?: readonly string[];
  /** Environment of the template (the kernels get theirs per fork). @default the host's */
  env?: Record<string, string | undefined>;
  /** How long the imports may take before the template is given up. @default 60000 */
  startTimeoutMs?: number;
  /**
   * ipykernel's command-line arguments, the same for every kernel: the template reads its
   * configuration once, ahead of the forks. @default none
   */
  kernelArgv?: readonly string[];
  /**
   * Runs the template in bubblewrap (`createTemplateBubblewrapArguments`); its socket is made in
   * `directory`, which the arguments must bind at its own path. Each request then carries its
   * kernel's mounts (`ForkRequest.sandbox`). @default not sandboxed (a private temporary directory)
   */
  sandbox?: { bwrap: string; args: readonly string[]; directory: string };
}


/** A running template process. */
export interface ForkServer {
  readonly pid: number;
  readonly python: string;
  /** Modules the template imported (its own and the preload list). */
  readonly imported: readonly string[];
  /** Preload modules whose import failed, with the error. */
  readonly failed: Readonly<Record<string, string>>;
  /**
   * True when the template built the kernel application and its shell ahead; false when that
   * failed and each child starts ipykernel from the beginning (slower, still a kernel).
   */
  readonly prepared: boolean;
  /** True when a child can install the support code itself (`ForkRequest.supportOptions`). */
  readonly installsSupport: boolean;
  /** False once the template process has ended. */
  readonly alive: boolean;
  /** Resolves when the template process ends. */
  readonly exited: Promise<string>;
  fork(request: ForkRequest): Promise<ForkedProcess>;
  /** Kills the template (its kernels die with it) and removes its socket directory. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a template process and waits until it has imported its modules and listens. Fails with
 * `ExecutorUnavailableError` when the template cannot start, or when it is not single-threaded
 * after its imports (forking it would not be safe).
 */
export async function startForkServer(options: ForkServerOptions): Promise<ForkServer> {
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  // Private and short: unix socket paths are limited to about 100 bytes.
  const directory = options.sandbox?.directory ?? (await mkdtemp(join(tmpdir(), "tw-fork-")));
  const socketPath = join(directory, "s");
  const templateArguments = [
    FORK_SERVER_PATH,
    socketPath,
    JSON.stringify(options.preloadModules ?? DEFAULT_PRELOAD_MODULES),
    SUPPORT_CODE_PATH,
    JSON.stringify(options.kernelArgv ?? []),
  ];
  const child = spawn(
    options.sandbox?.bwrap ?? options.python,
    options.sandbox ? [...options.sandbox.args, "--", options.python, ...templateArguments] : templateArguments,
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        ...options.env,
        PYDEVD_DISABLE_FILE_VALIDATION: "1",
        PYTHONDONTWRITEBYTECODE: "1",
      },
    },
  );
  child.unref();
  (child.stdout as unknown as { unref?: () => void }).unref?.();
  (child.stderr as unknown as { unref?: () => void }).unref?.();
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-4000);
  });
  let alive = true;
  const exited = new Promise<string>((resolve) => {
    child.once("error", (error) => {
      alive = false;
      void rm(directory, { recursive: true, force: true })
        .catch(() => undefined)
        .then(() => resolve(`the template could not start: ${error.message}`));
    });
    child.once("exit", (code, signal) => {
      alive = false;
      // Told once its directory is gone, so that a host stopping the template leaves none behind.
      void rm(directory, { recursive: true, force: true })
        .catch(() => undefined)
        .then(() => resolve(signal ? `the template was killed by ${signal}` : `the template exited with code ${code}`));
    });
  });

  const lines = createInterface({ input: child.stdout });
  let timer: NodeJS.Timeout | undefined;
  const ready = await Promise.race([
    new Promise<ReadyLine>((resolve) => {
      lines.on("line", (line) => {
        try {
          const parsed = JSON.parse(line) as Partial<ReadyLine>;
          if (parsed.ready === true) resolve(parsed as ReadyLine);
        } catch {
          // Not ours: a module printed something while importing.
        }
      });
    }),
    exited.then(async (reason) => {
      // The last of its stderr may still be in the pipe when the exit is reported.
      await delay(50);
      throw new ExecutorUnavailableError(
        `The kernel template (${options.python}) stopped while importing: ${reason}.${stderr.trim() ? `\nIts output:\n${stderr.trim()}` : ""}`,
      );
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ExecutorUnavailableError(`The kernel template did not start within ${startTimeoutMs} ms.`)),
        startTimeoutMs,
      );
      // Not unref'd: a host awaiting its first kernel must not exit while the template imports.
    }),
  ]).catch(async (error: unknown) => {
    // A template that failed must not hold the host for the rest of its start timeout.
    clearTimeout(timer);
    killTemplate();
    await Promise.race([exited, delay(2_000)]);
    throw error;
  });
  clearTimeout(timer);

  function killTemplate(): void {
    if (!alive || child.pid === undefined) return;
    try {
      // Under bubblewrap this is bubblewrap itself (no group): the template and its kernels
      // follow it through PR_SET_PDEATHSIG.
      process.kill(-child.pid, "SIGKILL");
    } catch {
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  }

  if (ready.threads !== 1) {
    killTemplate();
    await Promise.race([exited, delay(2_000)]);
    throw new ExecutorUnavailableError(
      `The kernel template runs ${ready.threads} threads after its imports; forking it would not be safe.`,
    );
  }

  return {
    pid: ready.pid,
    python: options.python,
    imported: ready.imported,
    failed: ready.failed,
    prepared: ready.prepared === true,
    installsSupport: ready.support === true,
    get alive() {
      return alive;
    },
    exited,
    fork(request) {
      return forkOnce(socketPath, request, exited);
    },
    async stop() {
      killTemplate();
      // The template is unreferenced: hold the host open until its exit is seen.
      let hold: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((resolve) => (hold = setTimeout(resolve, 5_000)))]);
      clearTimeout(hold);
      lines.close();
    },
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
