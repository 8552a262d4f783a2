import { randomBytes } from "node:crypto";
import { AbortedError, TaskWeaverError } from "@taskweaver/core";
import { posix } from "node:path";
import type { KernelConnection, KernelLauncher, LaunchOptions } from "../kernel-executor.js";
import { createKernelClient, type KernelClient } from "../internal/protocol/kernel-client.js";
import type { KernelTransport } from "../internal/protocol/transport.js";
import { createBindWorkingDirectoryCode, pythonString } from "../internal/support-code.js";
import type { JupyterRestClient } from "./jupyter-rest-client.js";
import {
  registerRemoteKernelForExitCleanup,
  unregisterRemoteKernelForExitCleanup,
} from "./kernel-cleanup.js";
import { connectKernelWebSocket, type KernelWebSocketTransport } from "./kernel-websocket.js";
import { REMOTE_WORKDIR_VARIABLE } from "./remote-files.js";
import { normalizeServerDirectory } from "./remote-settings.js";

/** Options of {@link createRemoteKernelLauncher}. */
export interface RemoteKernelLauncherOptions {
  rest: JupyterRestClient;
  token: string | undefined;
  /** Kernel spec name. @default "python3" */
  kernelName?: string;
  /** Working directory relative to the server root ("" for the root). */
  workingDirectory: string;
  /**
   * True when the server has a Contents API: the folder is created through it and the kernel
   * is started in it with `path`. Otherwise (gateways) the kernel creates the folder under its
   * own start directory and moves there.
   */
  hasContentsApi: () => Promise<boolean>;
  /** Creates the working directory on the server (Contents API servers only). */
  ensureWorkingDirectory?: () => Promise<void>;
  /** @default 60000 */
  startTimeoutMs?: number;
  /** Answer kernel messages with prompt pongs (see `KernelWebSocketOptions.promptAcknowledge`). @default true */
  promptAcknowledge?: boolean;
  /**
   * Longest wait for `DELETE /api/kernels/{id}` when killing a kernel that will not stop; the
   * request continues in the background. @default 2000
   */
  forcedStopWaitMs?: number;
  /**
   * A kernel already running on the server (one an earlier process started) that the first
   * launch attaches to instead of starting one; when the server no longer has it, a fresh kernel
   * is started. Later launches (replacing a dead kernel) always start fresh. @default none
   */
  attachKernelId?: string;
  /**
   * A graceful `stop()` only disconnects and leaves the kernel running (and no exit hook deletes
   * it), so another process can attach to it; forced stops still delete it. @default false
   */
  keepKernelOnStop?: boolean;
  /** Told the id of every kernel launched or attached, once it is ready. @default none */
  onKernelStarted?: (kernel: { kernelId: string; attached: boolean }) => void;
  /** Environment sent with `POST /api/kernels` (`KERNEL_USERNAME` for Enterprise Gateway). @default none */
  env?: Record<string, string>;
}

/**
 * Moves the kernel into the working directory (relative to its current one) when the server did
 * not start it there, or always when `always`, and records the absolute path for the file
 * helper; no name is left in the user namespace.
 */
function createPlacementCode(workingDirectory: string, always: boolean): string {
  const check = always
    ? `(__target == "")`
    : `(__target == "" or __os.path.realpath(__os.getcwd()).replace(__os.sep, "/").endswith("/" + __target))`;
  return (
    `(lambda __os, __target: (` +
    `${check} or ` +
    `(__os.makedirs(__target, exist_ok=True), __os.chdir(__target)), ` +
    `__os.environ.__setitem__(${pythonString(REMOTE_WORKDIR_VARIABLE)}, __os.getcwd())))` +
    `(__import__("os"), ${pythonString(workingDirectory)})`
  );
}

/** Tells a listener when the transport closes by itself, without hiding the event from the client. */
function observeClose(
  transport: KernelWebSocketTransport,
  listener: (reason: string) => void,
): KernelTransport {
  return {
    send: (channel, message) => transport.send(channel, message),
    setReceiver: (receiver) =>
      transport.setReceiver({
        onMessage: (channel, message) => receiver.onMessage(channel, message),
        onError: (error) => receiver.onError(error),
        onClose: (reason) => {
          receiver.onClose?.(reason);
          listener(reason);
        },
      }),
    close: () => transport.close(),
  };
}

/** Runs placement code; `shown` names the folder in the error message. */
async function enterDirectory(client: KernelClient, code: string, shown: string): Promise<void> {
  const placement = await client.execute(code, { silent: true }).done;
  if (placement.content.status !== "ok") {
    throw new TaskWeaverError(
      "kernel_setup_failed",
      `The remote kernel could not enter its working directory ${JSON.stringify(shown)}: ` +
        `${placement.content.ename ?? "Error"}: ${placement.content.evalue ?? ""}`,
    );
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * Starts kernels on a Jupyter Server, Kernel Gateway or Enterprise Gateway (`POST /api/kernels`)
 * in `workingDirectory`. Each kernel can `relocate` to another folder on the server (a warm
 * pool's kernel moving into its session's folder).
 */
export function createRemoteKernelLauncher(options: RemoteKernelLauncherOptions): KernelLauncher {
  const kernelName = options.kernelName ?? "python3";
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const forcedStopWaitMs = options.forcedStopWaitMs ?? 2_000;
  let attachKernelId = options.attachKernelId;

  const launch = async ({ signal }: LaunchOptions): Promise<KernelConnection> => {
    const withContents = await options.hasContentsApi();
    if (withContents) await options.ensureWorkingDirectory?.();
    if (signal?.aborted) throw new AbortedError("Starting the remote kernel was cancelled.");
    const attachTo = attachKernelId;
    attachKernelId = undefined;
    const attached = attachTo !== undefined && (await options.rest.getKernel(attachTo)) !== undefined;
    const env = options.env && Object.keys(options.env).length > 0 ? { env: options.env } : {};
    const kernelId = attached
      ? attachTo
      : (
          await options.rest.startKernel(
            withContents
              ? { name: kernelName, path: options.workingDirectory, ...env }
              : { name: kernelName, ...env },
            signal,
          )
        ).id;
    if (!options.keepKernelOnStop) registerRemoteKernelForExitCleanup(options.rest.baseUrl, kernelId, options.token);
    let stopped = false;
    let died = false;
    let deathReason = "";
    const deathListeners: ((reason: string) => void)[] = [];
    let deletion: Promise<void> | undefined;
    const deleteKernel = () => {
      deletion ??= options.rest
        .deleteKernel(kernelId)
        .catch(() => undefined)
        .finally(() => unregisterRemoteKernelForExitCleanup(options.rest.baseUrl, kernelId));
      return deletion;
    };

    let client: KernelClient | undefined;
    try {
      const session = randomBytes(16).toString("hex");
      const transport = await connectKernelWebSocket({
        baseUrl: options.rest.baseUrl,
        token: options.token,
        kernelId,
        sessionId: session,
        signal,
        connectTimeoutMs: startTimeoutMs,
        promptAcknowledge: options.promptAcknowledge,
      });
      client = createKernelClient(
        observeClose(transport, (reason) => {
          if (stopped || died) return;
          died = true;
          deathReason = reason;
          // The server may have restarted the dead kernel on its own; we start a fresh one and
          // do not want that orphan to linger.
          void deleteKernel();
          for (const listener of deathListeners) listener(reason);
        }),
        { session },
      );
      await client.waitForReady({
        signal,
        timeoutMs: startTimeoutMs,
        timeoutSetting: "execution_service.remote.start_timeout",
      });
      await enterDirectory(client, createPlacementCode(options.workingDirectory, false), options.workingDirectory);
    } catch (error) {
      stopped = true;
      client?.close();
      await deleteKernel();
      throw error;
    }
    const readyClient = client;
    const details = { kernelId, url: options.rest.baseUrl.href, workingDirectory: options.workingDirectory };
    options.onKernelStarted?.({ kernelId, attached });

    return {
      client: readyClient,
      details,
      async interrupt() {
        if (stopped || died) return;
        await options.rest.interruptKernel(kernelId);
      },
      onDeath(listener) {
        // A kernel that died before anyone listened (between setup and registration) is
        // still reported, or the executor would keep a dead kernel.
        if (died && !stopped) queueMicrotask(() => listener(deathReason));
        else deathListeners.push(listener);
      },
      async stop(stopOptions = {}) {
        if (stopped) return;
        stopped = true;
        readyClient.close();
        if (stopOptions.graceful && options.keepKernelOnStop) return;
        // DELETE already asks the kernel to shut down and kills it after the server's grace
        // period; when forcing, do not wait that long for it.
        if (stopOptions.graceful) await deleteKernel();
        else await Promise.race([deleteKernel(), delay(forcedStopWaitMs)]);
      },
      async relocate(target) {
        const destination = normalizeServerDirectory(target.workingDirectory);
        // Relative to where the kernel is now: the server's root is not known in the kernel.
        const relative = posix.relative(details.workingDirectory, destination);
        // A pooled kernel has the support code: bind it in the same execute ("" = where it is now).
        const code = `${createPlacementCode(relative, true)}\n${createBindWorkingDirectoryCode("")}`;
        await enterDirectory(readyClient, code, destination);
        details.workingDirectory = destination;
        return { bound: true };
      },
    };
  };

  return { launch };
}
