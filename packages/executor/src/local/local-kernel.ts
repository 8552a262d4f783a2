import { spawn, type ChildProcess } from "node:child_process";
import type { Readable } from "node:stream";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExecutorUnavailableError, KernelDiedError } from "@taskweaver/core";
import type { KernelConnection, KernelLauncher } from "../kernel-executor.js";
import { createKernelClient } from "../internal/protocol/kernel-client.js";
import type { ConnectionInfo } from "../internal/protocol/messages.js";
import { createZmqTransport } from "../internal/protocol/zmq-transport.js";
import { KernelProcessGroup } from "./kernel-process-group.js";
import { keepSandboxPidsLimit } from "./process-limit.js";
import { trackKernelProcessGroup } from "./process-registry.js";
import { INSTALL_HINT } from "./python-discovery.js";
import {
  createBubblewrapArguments,
  sandboxScratchDirectories,
  createLimitScript,
  findSandboxedKernelPid,
  isExecutable,
  resolveCommand,
  resolveSandbox,
  type LocalSandboxMode,
  type LocalSandboxOptions,
} from "./sandbox.js";

/** Options of `createLocalKernelLauncher`. */
export interface LocalKernelLauncherOptions {
  /** Resolves the Python executable to run (discovery is memoised by the caller). */
  resolvePython: () => Promise<string>;
  /**
   * ZeroMQ transport between host and kernel. Unix sockets (`ipc`) measured about as fast as
   * loopback TCP (`pnpm bench kernel` prints both), need no free-port search (no race with other
   * processes taking the port) and cannot be reached from the network.
   * @default "ipc"
   */
  transport?: "ipc" | "tcp";
  /**
   * How long the kernel may take to answer its first kernel_info_request
   * (`execution_service.local.start_timeout`, in seconds there). @default 60000
   */
  startTimeoutMs?: number;
  /** Extra environment variables for the kernel (on top of the host's). */
  env?: Record<string, string | undefined>;
  /** Grace period for a graceful `shutdown_request` before the process group is killed. @default 1000 */
  shutdownGraceMs?: number;
  /**
   * Runs each kernel in bubblewrap (`execution_service.local.sandbox` and its limits); `"auto"`
   * sandboxes when bwrap works and says once when it does not.
   * @default { mode: "none" }
   */
  sandbox?: LocalSandboxOptions & { mode: LocalSandboxMode };
}

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** New keys and sockets (ipc paths in `connectionDirectory`, or free loopback ports) for one kernel. */
export async function createConnectionInfo(
  connectionDirectory: string,
  transport: "ipc" | "tcp",
): Promise<ConnectionInfo> {
  const key = randomBytes(32).toString("hex");
  if (transport === "ipc") {
    return {
      transport: "ipc",
      ip: join(connectionDirectory, "k"),
      shell_port: 1,
      iopub_port: 2,
      stdin_port: 3,
      control_port: 4,
      hb_port: 5,
      key,
      signature_scheme: "hmac-sha256",
    };
  }
  const [shell, iopub, stdin, control, hb] = (await freePorts(5)) as [number, number, number, number, number];
  return {
    transport: "tcp",
    ip: "127.0.0.1",
    shell_port: shell,
    iopub_port: iopub,
    stdin_port: stdin,
    control_port: control,
    hb_port: hb,
    key,
    signature_scheme: "hmac-sha256",
  };
}

/**
 * Runs ipykernel_launcher in the same interpreter after making the kernel a process-group leader.
 * Its own group lets us signal the kernel with the programs it starts, and keeps terminal Ctrl-C
 * away from it. Not `detached` (setsid): a new session gets its own scheduler autogroup on Linux,
 * which measured 2-3x slower round trips on a loaded machine. PR_SET_PDEATHSIG (1) makes the
 * kernel die with its parent from the very start (the support code sets it again, with a fallback).
 */
const LAUNCH_SCRIPT = [
  "import os, sys, runpy",
  "os.setpgid(0, 0)",
  "if sys.platform.startswith('linux'):",
  "    try:",
  "        import ctypes, signal",
  "        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)",
  "    except Exception:",
  "        pass",
  "runpy.run_module('ipykernel_launcher', run_name='__main__', alter_sys=True)",
].join("\n");

/** The setting named when a local kernel does not answer in time. */
const START_TIMEOUT_SETTING = "execution_service.local.start_timeout";

/** Keeps the last few KB of the kernel's own stdout/stderr, for error messages. */
function createTail(limit = 4000) {
  let text = "";
  return {
    push(chunk: Buffer) {
      text = (text + chunk.toString("utf8")).slice(-limit);
    },
    get text() {
      return text.trim();
    },
  };
}

/**
 * Starts `python -m ipykernel_launcher -f <connection file>` in its own process group, with
 * the session's working directory as cwd, and connects to it over ZeroMQ.
 */
export function createLocalKernelLauncher(options: LocalKernelLauncherOptions): KernelLauncher {
  const transport = options.transport ?? "ipc";
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const shutdownGraceMs = options.shutdownGraceMs ?? 1_000;
  const sandboxOptions = options.sandbox;
  let sandboxed: Promise<boolean> | undefined;

  return {
    async launch({ workingDirectory, signal }): Promise<KernelConnection> {
      const configuredPython = await options.resolvePython();
      await mkdir(workingDirectory, { recursive: true });
      // Short path under the temp dir: Unix socket paths are limited to about 100 bytes.
      const connectionDirectory = await mkdtemp(join(tmpdir(), "tw-"));
      const connection = await createConnectionInfo(connectionDirectory, transport);
      const connectionFile = join(connectionDirectory, "kernel.json");
      await writeFile(connectionFile, JSON.stringify(connection), { mode: 0o600 });

      sandboxed ??= resolveSandbox(sandboxOptions?.mode ?? "none", { bwrap: sandboxOptions?.bwrap });
      const inSandbox = await sandboxed.catch(async (error: unknown) => {
        await rm(connectionDirectory, { recursive: true, force: true });
        throw error;
      });
      // Inside the sandbox the host's PATH may lead into a hidden directory: the path found here is bound back.
      const python = inSandbox ? await resolveCommand(configuredPython) : configuredPython;
      if (inSandbox && !(await isExecutable(python))) {
        await rm(connectionDirectory, { recursive: true, force: true });
        throw new ExecutorUnavailableError(
          `Could not start the Python kernel with ${python}: no such executable.\n${INSTALL_HINT}`,
        );
      }
      const kernelArguments = [
        "-c",
        inSandbox ? [...createLimitScript(sandboxOptions ?? {}), LAUNCH_SCRIPT].join("\n") : LAUNCH_SCRIPT,
        "-f",
        connectionFile,
        "--HistoryManager.enabled=False",
      ];
      // In the sandbox, bubblewrap reports its init's host pid on fd 3; the kernel is that init's child.
      const command = inSandbox ? (sandboxOptions?.bwrap ?? "bwrap") : python;
      const commandArguments = inSandbox
        ? [
            ...(await createBubblewrapArguments({
              workingDirectory,
              connectionDirectory,
              python,
              options: sandboxOptions ?? {},
            })),
            "--info-fd",
            "3",
            "--",
            python,
            ...kernelArguments,
          ]
        : kernelArguments;
      const child = spawn(command, commandArguments, {
        cwd: workingDirectory,
        stdio: inSandbox ? ["ignore", "pipe", "pipe", "pipe"] : ["ignore", "pipe", "pipe"],
        env: {
          ...process.env,
          ...options.env,
          MPLBACKEND: "Agg",
          // ipykernel's own parent check cannot see the host from the sandbox's pid namespace;
          // --die-with-parent does that job there.
          JPY_PARENT_PID: inSandbox ? undefined : String(process.pid),
          PYDEVD_DISABLE_FILE_VALIDATION: "1",
          PYTHONDONTWRITEBYTECODE: "1",
        },
      });
      const tail = createTail();
      const { stdout, stderr } = child as unknown as { stdout: Readable; stderr: Readable };
      stdout.on("data", tail.push);
      stderr.on("data", tail.push);
      // The kernel must never keep the host's event loop alive.
      child.unref();
      (stdout as unknown as { unref?: () => void }).unref?.();
      (stderr as unknown as { unref?: () => void }).unref?.();

      const spawnedPid = child.pid;
      if (spawnedPid === undefined) {
        const error = await new Promise<Error>((resolve) => child.once("error", resolve));
        await rm(connectionDirectory, { recursive: true, force: true });
        throw new ExecutorUnavailableError(
          `Could not start the Python kernel with ${python}: ${error.message}.\n${INSTALL_HINT}`,
          {
            cause: error,
          },
        );
      }
      const pid = inSandbox
        ? await sandboxedKernelPid(child, connectionDirectory, python, () => tail.text)
        : spawnedPid;
      const untrack = trackKernelProcessGroup(pid);
      const transportHandle = createZmqTransport(connection);
      const client = createKernelClient(transportHandle);
      const group = new KernelProcessGroup(pid);
      // Why the host ended the sandbox itself goes into the death's reason.
      const pidsLimit = inSandbox
        ? keepSandboxPidsLimit(pid, sandboxOptions?.pidsLimit, () => group.signal("SIGKILL", true))
        : undefined;
      const exit = new Promise<string>((resolve) => {
        child.once("exit", (code, exitSignal) => {
          untrack();
          pidsLimit?.stop();
          const reason =
            pidsLimit?.endedBecause ??
            (exitSignal
              ? `the kernel process was killed by ${exitSignal}`
              : `the kernel process exited with code ${code}`);
          client.fail(new KernelDiedError(`The Python kernel died: ${reason}.`));
          transportHandle.close();
          void rm(connectionDirectory, { recursive: true, force: true });
          group.exited(reason);
          resolve(reason);
        });
      });

      await group.waitUntilReady({
        ready: client.waitForReady({
          signal,
          timeoutMs: startTimeoutMs,
          timeoutSetting: START_TIMEOUT_SETTING,
        }),
        stoppedWhileStarting: exit.then((reason) => {
          const missing = /No module named '?ipykernel/.test(tail.text);
          throw new ExecutorUnavailableError(
            missing
              ? `${python} has no ipykernel, so it cannot run the kernel. ${INSTALL_HINT}`
              : `The Python kernel (${python}) stopped while starting: ${reason}.${tail.text ? `\nIts output:\n${tail.text}` : ""}`,
          );
        }),
        exit,
        readLog: async () => tail.text,
      });

      const connectionToKernel = group.connection({
        client,
        details: { python, pid: String(pid), transport, ...(inSandbox ? { sandbox: "bwrap" } : {}) },
        exit,
        shutdownGraceMs,
      });
      // The sandbox's writable tmpfs mounts count toward the working-directory limit.
      return inSandbox
        ? { ...connectionToKernel, scratchDirectories: sandboxScratchDirectories(pid, sandboxOptions ?? {}) }
        : connectionToKernel;
    },
  };
}

/**
 * Reads bubblewrap's `--info-fd` answer and finds the kernel under its init. A sandbox that ends
 * first (no Python, no ipykernel) fails with the words an unsandboxed start would use.
 */
async function sandboxedKernelPid(
  child: ChildProcess,
  connectionDirectory: string,
  python: string,
  readLog: () => string,
): Promise<number> {
  const info = child.stdio[3] as Readable;
  let text = "";
  let exitCode: number | null | undefined;
  // "close": the exit is seen, and the output drained, for the message.
  const closed = new Promise<void>((resolveClosed) =>
    child.once("close", (code) => {
      exitCode = code;
      resolveClosed();
    }),
  );
  const stoppedError = () => {
    const log = readLog();
    return new ExecutorUnavailableError(
      /No module named '?ipykernel/.test(log)
        ? `${python} has no ipykernel, so it cannot run the kernel. ${INSTALL_HINT}`
        : `The sandboxed Python kernel (${python}) stopped while starting: bubblewrap exited with code ${exitCode}.${log ? `\nIts output:\n${log}` : ""}`,
    );
  };
  try {
    const initPid = await Promise.race([
      new Promise<number>((resolvePid) => {
        info.on("data", (chunk: Buffer) => {
          text += chunk.toString("utf8");
          const match = /"child-pid"\s*:\s*(\d+)/.exec(text);
          if (match) resolvePid(Number(match[1]));
        });
      }),
      closed.then(() => Promise.reject(stoppedError())),
    ]);
    (info as unknown as { unref?: () => void }).unref?.();
    return await findSandboxedKernelPid(initPid, { stopped: () => exitCode !== undefined }).catch(
      async (error: unknown) => {
        if (exitCode === undefined) throw error;
        throw stoppedError();
      },
    );
  } catch (error) {
    child.kill("SIGKILL");
    await rm(connectionDirectory, { recursive: true, force: true });
    throw error;
  }
}
