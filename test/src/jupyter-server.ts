/**
 * Starts a real `jupyter server` (Debian's jupyter-server under /usr/bin/python3) on
 * 127.0.0.1 for tests and benchmarks of the remote runtime, and stops it (with its kernels)
 * afterwards. Each server gets its own root, runtime and data directories so parallel test
 * files never share state or write into the home directory.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TaskWeaverError } from "@taskweaver/core";

/** Options of {@link startJupyterServer}. */
export interface JupyterServerOptions {
  /** Token the server requires (`Authorization: token ...`). @default a random token */
  token?: string;
  /** Directory the server serves and starts kernels in. @default a new temporary directory, removed on close */
  rootDir?: string;
  /** Python interpreter that has jupyter_server and ipykernel. @default `/usr/bin/python3` */
  python?: string;
  /** Give up when the server does not answer within this time. @default 30000 */
  startTimeoutMs?: number;
  /**
   * Keep Jupyter's default iopub rate limits (1 MB/s, 1000 messages/s), which drop the output
   * of chatty code. Off by default so runtime tests see every byte, as with a local kernel.
   * @default false
   */
  iopubRateLimits?: boolean;
}

/** A running Jupyter server. */
export interface JupyterServer {
  /** Base URL, e.g. `http://127.0.0.1:41234/`. */
  readonly url: string;
  readonly token: string;
  readonly rootDir: string;
  readonly port: number;
  /** The server's combined stdout/stderr so far, for failure messages. */
  readonly log: () => string;
  /** Stops the server and its kernels; idempotent. */
  close(): Promise<void>;
}

const DEFAULT_PYTHON = "/usr/bin/python3";

/** Why a Jupyter server cannot run here, or `undefined` when it can. */
export function jupyterServerUnavailableReason(python = DEFAULT_PYTHON): string | undefined {
  const probe = spawnSync(python, ["-c", "import jupyter_server, ipykernel"], {
    encoding: "utf8",
    timeout: 30_000,
  });
  if (probe.error) return `${python} cannot run: ${probe.error.message}`;
  if (probe.status !== 0) {
    return `${python} lacks jupyter_server or ipykernel (apt-get install jupyter-server python3-ipykernel): ${probe.stderr.trim()}`;
  }
  return undefined;
}

async function findFreePort(): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Kills the server's whole process group so no kernel outlives the test. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Starts `python -m jupyter_server` with token auth on a free port of 127.0.0.1 and resolves
 * once `GET /api/kernels` answers with that token.
 */
export async function startJupyterServer(options: JupyterServerOptions = {}): Promise<JupyterServer> {
  const python = options.python ?? DEFAULT_PYTHON;
  const token = options.token ?? `test-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  const ownsRoot = options.rootDir === undefined;
  const rootDir = options.rootDir ?? mkdtempSync(join(tmpdir(), "tw-jupyter-root-"));
  const stateDir = mkdtempSync(join(tmpdir(), "tw-jupyter-state-"));
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const cleanUpDirectories = () => {
    rmSync(stateDir, { recursive: true, force: true });
    if (ownsRoot) rmSync(rootDir, { recursive: true, force: true });
  };

  // jupyter_server 1.x does not report the port it picked for --port=0, so we pick one and
  // retry on the rare race where another process takes it first.
  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await findFreePort();
    const child = spawn(
      python,
      [
        "-m",
        "jupyter_server",
        "--ServerApp.ip=127.0.0.1",
        `--ServerApp.port=${port}`,
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        "--ServerApp.allow_root=True",
        `--ServerApp.token=${token}`,
        `--ServerApp.root_dir=${rootDir}`,
        ...(options.iopubRateLimits
          ? []
          : ["--ServerApp.iopub_data_rate_limit=0", "--ServerApp.iopub_msg_rate_limit=0"]),
      ],
      {
        cwd: rootDir,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          ...process.env,
          JUPYTER_RUNTIME_DIR: join(stateDir, "runtime"),
          JUPYTER_CONFIG_DIR: join(stateDir, "config"),
          JUPYTER_DATA_DIR: join(stateDir, "data"),
          JUPYTER_TOKEN: "",
          PYTHONUNBUFFERED: "1",
        },
      },
    );
    let output = "";
    const append = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (output.length > 200_000) output = output.slice(-100_000);
    };
    child.stdout?.on("data", append);
    child.stderr?.on("data", append);
    let spawnError: Error | undefined;
    child.once("error", (error) => {
      spawnError = error;
    });

    const url = `http://127.0.0.1:${port}/`;
    const deadline = Date.now() + startTimeoutMs;
    let ready = false;
    while (Date.now() < deadline) {
      if (spawnError || child.exitCode !== null || child.signalCode !== null) break;
      try {
        const response = await fetch(`${url}api/kernels`, {
          headers: { Authorization: `token ${token}` },
          signal: AbortSignal.timeout(2_000),
        });
        await response.arrayBuffer();
        if (response.ok) {
          ready = true;
          break;
        }
      } catch {
        // Not listening yet.
      }
      await delay(100);
    }
    if (ready) {
      let closed = false;
      return {
        url,
        token,
        rootDir,
        port,
        log: () => output,
        close: async () => {
          if (closed) return;
          closed = true;
          killGroup(child, "SIGTERM");
          if (!(await waitForExit(child, 5_000))) {
            killGroup(child, "SIGKILL");
            await waitForExit(child, 5_000);
          }
          // Kernels are in the same process group; make sure none survived the server.
          killGroup(child, "SIGKILL");
          cleanUpDirectories();
        },
      };
    }
    killGroup(child, "SIGKILL");
    await waitForExit(child, 5_000);
    lastError = spawnError ? spawnError.message : output.slice(-4_000);
    if (!/address already in use|Errno 98/i.test(output)) break;
  }
  cleanUpDirectories();
  throw new TaskWeaverError(
    "jupyter_server_unavailable",
    `jupyter server did not start with ${python}: ${lastError}`,
  );
}
