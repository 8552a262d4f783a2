import { posix } from "node:path";
import { ConfigError, type AppConfig } from "@taskweaver/core";

/** Everything the remote runtime needs to know about the server, resolved from the config. */
export interface RemoteSettings {
  /** Base URL of the server, always ending with `/` (e.g. `http://host:8888/jupyter/`). */
  baseUrl: URL;
  /** Token sent as `Authorization: token ...`; undefined for servers without auth. */
  token: string | undefined;
  /** Kernel spec name to start. @default "python3" */
  kernelName: string;
  /**
   * Working directory on the server, relative to the server's root (`/`-separated, no leading
   * or trailing slash). @default `taskweaver/<session_id>`
   */
  workingDirectory: string;
  /** Milliseconds to wait for the kernel to answer after starting it. @default 60000 */
  startTimeoutMs: number;
  /** Default wall-clock limit of one execution. @default 300000 */
  executionTimeoutMs: number;
  /** Limit of stdout/stderr characters kept per execution. @default 100000 */
  maxOutputChars: number;
  /**
   * Environment sent when a kernel starts: `KERNEL_USERNAME` (`execution_service.remote.kernel_username`)
   * and, when set, `KERNEL_NAMESPACE` (`execution_service.remote.kernel_namespace`), as Enterprise Gateway reads them.
   */
  kernelEnv: Record<string, string>;
}

/** Where the token was found, in priority order, for error messages. */
export const TOKEN_SOURCES =
  "execution_service.remote.token (or the environment variable EXECUTION_SERVICE_REMOTE_TOKEN) or JUPYTER_TOKEN";

/**
 * Makes a server-side path safe and canonical: relative to the server root, `/`-separated,
 * without `.`/`..` segments. Throws ConfigError for paths that climb above the root.
 */
export function normalizeServerDirectory(path: string): string {
  const trimmed = path.trim().replaceAll("\\", "/").replace(/^\/+/, "");
  const normalized = posix.normalize(trimmed === "" ? "." : trimmed);
  if (normalized === ".." || normalized.startsWith("../")) {
    throw new ConfigError(
      `execution_service.remote.working_directory "${path}" leaves the server's root directory; ` +
        `use a path inside it, e.g. "taskweaver/work".`,
    );
  }
  return normalized === "." ? "" : normalized.replace(/\/+$/, "");
}

/** Session ids name folders on the server: keep them to characters every file system accepts. */
function safeSegment(value: string): string {
  const cleaned = value.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_");
  return cleaned === "" ? "session" : cleaned;
}

/**
 * Reads `execution_service.remote.*` (and `JUPYTER_TOKEN` as a fallback token). A token given
 * as `?token=` in the URL is accepted too and moved to the header.
 */
export function resolveRemoteSettings(
  config: AppConfig,
  sessionId: string,
  env: Record<string, string | undefined> = process.env,
): RemoteSettings {
  const rawUrl = config.get("execution_service.remote.url");
  if (rawUrl === undefined || rawUrl.trim() === "") {
    throw new ConfigError(
      'execution_service.kernel_mode is "remote" but execution_service.remote.url is not set. ' +
        'Set it to the Jupyter server or gateway, e.g. "http://127.0.0.1:8888/", ' +
        "or use kernel_mode local.",
    );
  }
  let baseUrl: URL;
  try {
    baseUrl = new URL(rawUrl.trim());
  } catch (error) {
    throw new ConfigError(`execution_service.remote.url "${rawUrl}" is not a valid URL.`, { cause: error });
  }
  if (baseUrl.protocol !== "http:" && baseUrl.protocol !== "https:") {
    throw new ConfigError(
      `execution_service.remote.url "${rawUrl}" must start with http:// or https:// (the WebSocket URL is derived from it).`,
    );
  }
  if (baseUrl.username !== "" || baseUrl.password !== "") {
    throw new ConfigError(
      `execution_service.remote.url must not carry a user name or password; put the server's token in ${TOKEN_SOURCES}.`,
    );
  }
  const urlToken = baseUrl.searchParams.get("token") ?? undefined;
  baseUrl.search = "";
  baseUrl.hash = "";
  if (!baseUrl.pathname.endsWith("/")) baseUrl.pathname = `${baseUrl.pathname}/`;

  const configuredToken = config.get("execution_service.remote.token");
  const token = [configuredToken, urlToken, env.JUPYTER_TOKEN].find(
    (candidate): candidate is string => candidate !== undefined && candidate.trim() !== "",
  );

  const configuredDirectory = config.get("execution_service.remote.working_directory");
  const workingDirectory =
    configuredDirectory === undefined || configuredDirectory.trim() === ""
      ? `taskweaver/${safeSegment(sessionId)}`
      : normalizeServerDirectory(configuredDirectory.replaceAll("${SessionId}", safeSegment(sessionId)));

  const namespace = config.get("execution_service.remote.kernel_namespace")?.trim();
  return {
    baseUrl,
    token: token?.trim(),
    kernelName: config.get("execution_service.remote.kernel_name"),
    workingDirectory,
    startTimeoutMs: config.get("execution_service.remote.start_timeout") * 1000,
    executionTimeoutMs: config.get("execution_service.execution_timeout") * 1000,
    maxOutputChars: config.get("execution_service.max_output_chars"),
    kernelEnv: {
      KERNEL_USERNAME: config.get("execution_service.remote.kernel_username") ?? "taskweaver",
      ...(namespace ? { KERNEL_NAMESPACE: namespace } : {}),
    },
  };
}
