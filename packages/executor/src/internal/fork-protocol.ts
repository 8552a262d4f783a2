// The host's side of the fork template's socket protocol (see taskweaver_fork_server.py): one
// JSON line per request. Shared by the local runtime's template (fork-server.ts) and the
// container runtime's, whose socket the host reaches through the bind-mounted ipc directory.
import { connect } from "node:net";
import { ExecutorUnavailableError } from "@taskweaver/core";
import type { SupportInstallOptions } from "./support-code.js";

/**
 * Modules a template imports ahead by default (`execution_service.preload_modules`); ipykernel
 * and IPython's own machinery and the support code's imports are always added.
 */
export const DEFAULT_PRELOAD_MODULES: readonly string[] = ["numpy", "pandas", "matplotlib"];

/** One mount of a sandboxed kernel's view, in the order they are made (see local/sandbox.ts). */
export type SandboxMount =
  | { type: "tmpfs"; path: string; size?: number }
  | { type: "bind"; source: string; path: string; readonly: boolean }
  | { type: "devpts"; path: string }
  | { type: "readonly"; path: string };

/** How a sandboxed template's child isolates itself before it becomes the kernel. */
export interface ForkSandboxRequest {
  /** The kernel's view, made in its own mount namespace, in order; the same for every kernel of the template. */
  mounts: readonly SandboxMount[];
  /**
   * This kernel's own mounts, made after `mounts` (its working and connection directories). With
   * them the template makes the next request's sandbox ahead. @default none
   */
  kernelMounts?: readonly SandboxMount[];
  /** Directories that hold the sources of every request's `kernelMounts` (kept open by a sandbox made ahead). */
  reusableDirectories?: readonly string[];
  /** A network namespace of its own (no network, a loopback of its own). */
  unshareNet: boolean;
}

/** What a fork request sets up for the child before it becomes an ipykernel. */
export interface ForkRequest {
  connectionFile: string;
  /** The child's working directory. */
  cwd: string;
  /**
   * The child's whole environment (the template's is not inherited). Absent: the child keeps the
   * template's, which is what a container gave it. @default the template's
   */
  env?: Record<string, string>;
  /** File the child's fd 1 and 2 go to (ipykernel's own messages before it redirects them). */
  logFile: string;
  /** `resource` limits by name, e.g. `{ RLIMIT_NOFILE: [256, 256] }`; the child's own. */
  limits?: Record<string, readonly [number, number]>;
  /**
   * The support code's `install` options: the child installs the support module (loaded by the
   * template) before it reads its first request. Only when the template said it can (`support`).
   */
  supportOptions?: SupportInstallOptions;
  /** Only to a sandboxed template (`ForkServerOptions.sandbox`). */
  sandbox?: ForkSandboxRequest;
}

/** How a forked child ended. */
export interface ForkedExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the template went away, so the child's exit status is unknown (it is killed with the template). */
  templateLost?: boolean;
}

/** A child forked by the template. */
export interface ForkedProcess {
  readonly pid: number;
  /** True when its sandbox was made ahead, before the request (`ForkSandboxRequest.kernelMounts`). */
  readonly sandboxMadeAhead?: boolean;
  /** Resolves once when the child has ended. */
  readonly exit: Promise<ForkedExit>;
}

/** The template's first line on stdout, once it has imported its modules and listens. */
export interface ForkTemplateReady {
  ready: true;
  pid: number;
  threads: number;
  imported: string[];
  failed: Record<string, string>;
  /** The kernel application and its shell are built ahead. */
  prepared?: boolean;
  /** A child can install the support code itself (`ForkRequest.supportOptions`). */
  support?: boolean;
}

/** Reads the template's ready line out of its output, if it is there (other lines are skipped). */
export function parseForkTemplateReady(output: string): ForkTemplateReady | undefined {
  for (const line of output.split("\n")) {
    const text = line.trim();
    if (!text.startsWith("{")) continue;
    try {
      const parsed = JSON.parse(text) as Partial<ForkTemplateReady>;
      if (parsed.ready === true) return parsed as ForkTemplateReady;
    } catch {
      // Not ours: a module printed something while importing.
    }
  }
  return undefined;
}

const SIGNAL_NAMES: Record<number, NodeJS.Signals> = {
  1: "SIGHUP",
  2: "SIGINT",
  6: "SIGABRT",
  9: "SIGKILL",
  11: "SIGSEGV",
  15: "SIGTERM",
};

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/**
 * Asks the template at `socketPath` for a child. Resolves with its pid once forked; `exit`
 * resolves when the child ends, or (`templateLost`) once `templateExited` resolves after the
 * template closed the connection without an exit status.
 */
export function forkOnce(socketPath: string, request: ForkRequest, templateExited: Promise<unknown>): Promise<ForkedProcess> {
  return new Promise<ForkedProcess>((resolve, reject) => {
    // Referenced until the pid arrives (the host waits for it), then it must not keep the host alive.
    const socket = connect(socketPath);
    let buffer = "";
    let pid: number | undefined;
    let settleExit!: (exit: ForkedExit) => void;
    const exit = new Promise<ForkedExit>((resolveExit) => (settleExit = resolveExit));
    const fail = (message: string) =>
      reject(new ExecutorUnavailableError(`The kernel template could not fork a kernel: ${message}.`));
    socket.on("connect", () => {
      socket.write(
        `${JSON.stringify({
          connection_file: request.connectionFile,
          cwd: request.cwd,
          ...(request.env ? { env: request.env } : {}),
          log_file: request.logFile,
          limits: request.limits ?? {},
          ...(request.supportOptions ? { support_options: request.supportOptions } : {}),
          ...(request.sandbox
            ? {
                sandbox: {
                  mounts: request.sandbox.mounts,
                  unshare_net: request.sandbox.unshareNet,
                  ...(request.sandbox.kernelMounts ? { kernel_mounts: request.sandbox.kernelMounts } : {}),
                  ...(request.sandbox.reusableDirectories ? { reusable: request.sandbox.reusableDirectories } : {}),
                },
              }
            : {}),
        })}\n`,
      );
    });
    socket.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      let newline: number;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        const message = JSON.parse(line) as {
          pid?: number;
          ahead?: boolean;
          exit_code?: number;
          signal?: number;
          error?: string;
        };
        if (message.error !== undefined) fail(message.error);
        else if (message.pid !== undefined) {
          pid = message.pid;
          socket.unref();
          resolve({ pid, exit, ...(message.ahead === true ? { sandboxMadeAhead: true } : {}) });
        } else if (message.exit_code !== undefined) settleExit({ code: message.exit_code, signal: null });
        else if (message.signal !== undefined)
          settleExit({ code: null, signal: SIGNAL_NAMES[message.signal] ?? "SIGKILL" });
      }
    });
    socket.on("error", (error) => {
      if (pid === undefined) fail(error.message);
    });
    socket.on("close", () => {
      if (pid === undefined) {
        fail("the template closed the connection");
        return;
      }
      // Closed without an exit status: the template died, and its kernels die with it
      // (PR_SET_PDEATHSIG). Wait for the template's end, so "died" is not reported early.
      void templateExited.then(() => settleExit({ code: null, signal: "SIGKILL", templateLost: true }));
    });
  });
}

/**
 * Asks the template to send `signal` to the process group of its child `pid` (a kernel is its
 * group's leader). For hosts that cannot signal the child themselves: a container's processes
 * live in another pid namespace. Resolves once sent; rejects when the template refused or is gone.
 */
export function signalForked(socketPath: string, pid: number, signal: NodeJS.Signals): Promise<void> {
  const number = SIGNAL_NUMBERS[signal];
  if (number === undefined) return Promise.reject(new ExecutorUnavailableError(`Cannot send ${signal} to a forked kernel.`));
  return new Promise<void>((resolve, reject) => {
    const socket = connect(socketPath);
    socket.unref();
    let buffer = "";
    let settled = false;
    const settle = (error?: string) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (error === undefined) resolve();
      else reject(new ExecutorUnavailableError(`The kernel template could not signal kernel ${pid}: ${error}.`));
    };
    socket.on("connect", () => socket.write(`${JSON.stringify({ kill: pid, signal: number })}\n`));
    socket.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      const newline = buffer.indexOf("\n");
      if (newline < 0) return;
      try {
        const message = JSON.parse(buffer.slice(0, newline)) as { ok?: boolean; error?: string };
        settle(message.ok === true ? undefined : (message.error ?? "no answer"));
      } catch (error) {
        settle(String(error));
      }
    });
    socket.on("error", (error) => settle(error.message));
    socket.on("close", () => settle("the template closed the connection"));
  });
}
