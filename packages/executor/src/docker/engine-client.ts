import { request as httpRequest, type IncomingMessage } from "node:http";
import { ExecutorUnavailableError, TaskWeaverError } from "@taskweaver/core";
import { z } from "zod";

/**
 * A small client for the Docker Engine API over its unix socket (or plain TCP), covering only
 * what the container runtime needs. Plain `node:http` keeps the dependency list short and lets
 * the errors say exactly what went wrong with the socket.
 */

/** Where the engine listens. */
export type DockerEndpoint =
  | { kind: "unix"; socketPath: string; description: string }
  | { kind: "tcp"; host: string; port: number; description: string };

/** The advice every "no Docker" message ends with. */
export const SWITCH_TO_LOCAL_HINT =
  "To run code without Docker, set execution_service.kernel_mode to \"local\" in taskweaver_config.json " +
  "or set the environment variable EXECUTION_SERVICE_KERNEL_MODE=local.";

/**
 * Resolves the engine address: an explicit value (`execution_service.docker.host`), else
 * `DOCKER_HOST`, else the standard socket `/var/run/docker.sock`.
 */
export function resolveDockerEndpoint(
  explicit: string | undefined,
  env: Record<string, string | undefined> = process.env,
): DockerEndpoint {
  const value = explicit?.trim() || env.DOCKER_HOST?.trim() || "unix:///var/run/docker.sock";
  if (value.startsWith("unix://")) {
    const socketPath = value.slice("unix://".length);
    return { kind: "unix", socketPath, description: value };
  }
  if (value.startsWith("/")) return { kind: "unix", socketPath: value, description: `unix://${value}` };
  const tcp = /^(?:tcp|http):\/\/([^:/]+)(?::(\d+))?\/?$/.exec(value);
  if (tcp) {
    return { kind: "tcp", host: tcp[1]!, port: Number(tcp[2] ?? 2375), description: value };
  }
  throw new ExecutorUnavailableError(
    `The Docker address "${value}" is not supported: use unix:///path/to/docker.sock or tcp://host:port ` +
      `(TLS endpoints are not supported). ${SWITCH_TO_LOCAL_HINT}`,
  );
}

/** The engine answered with an HTTP error status. */
export class DockerApiError extends TaskWeaverError {
  readonly status: number;
  constructor(status: number, message: string) {
    super("docker_api_error", message);
    this.status = status;
  }
}

export interface DockerRequestOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined>;
  /** Abort the request after this many milliseconds. @default 30000 */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface DockerResponse {
  status: number;
  body: Buffer;
}

const ContainerSummarySchema = z.object({
  Id: z.string(),
  Names: z.array(z.string()).default([]),
  Labels: z.record(z.string(), z.string()).nullish(),
  State: z.string().optional(),
});
export type ContainerSummary = z.infer<typeof ContainerSummarySchema>;

const ContainerStateSchema = z.object({
  Id: z.string(),
  /** `/<name>`. */
  Name: z.string().optional(),
  State: z.object({
    Status: z.string(),
    Running: z.boolean(),
    OOMKilled: z.boolean().default(false),
    ExitCode: z.number().default(0),
    Error: z.string().default(""),
    Pid: z.number().default(0),
  }),
  Config: z
    .object({ Labels: z.record(z.string(), z.string()).nullish(), User: z.string().optional() })
    .passthrough()
    .optional(),
  HostConfig: z.record(z.string(), z.unknown()).optional(),
});
export type ContainerInspection = z.infer<typeof ContainerStateSchema>;

const StatsSchema = z
  .object({
    memory_stats: z
      .object({
        usage: z.number().optional(),
        limit: z.number().optional(),
        stats: z.record(z.string(), z.number()).optional(),
      })
      .passthrough()
      .default({}),
  })
  .passthrough();

/** Memory figures of a running container, in bytes. */
export interface ContainerMemory {
  /** Anonymous (resident, non-cache) memory: `rss` on cgroup v1, `anon` on cgroup v2. */
  resident: number | undefined;
  /** Everything the cgroup charges, page cache included. */
  usage: number | undefined;
  limit: number | undefined;
}

export interface DockerEngineClientOptions {
  endpoint: DockerEndpoint;
}

/** Reads a whole response body. */
function readBody(response: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on("data", (chunk: Buffer) => chunks.push(chunk));
    response.on("end", () => resolve(Buffer.concat(chunks)));
    response.on("error", reject);
  });
}

function describeConnectionError(endpoint: DockerEndpoint, error: NodeJS.ErrnoException): string {
  const where = endpoint.description;
  switch (error.code) {
    case "ENOENT":
      return `Docker is not running: there is no Docker socket at ${where}.`;
    case "ECONNREFUSED":
      return `Docker is not running: nothing accepts connections at ${where}.`;
    case "EACCES":
    case "EPERM":
      return `Docker is installed but this user may not use it: permission denied on ${where} (add the user to the docker group, or point DOCKER_HOST at a socket it can use).`;
    case "ENOTSOCK":
      return `${where} is not a socket, so it cannot be the Docker engine.`;
    default:
      return `The Docker engine at ${where} could not be reached (${error.code ?? error.message}).`;
  }
}

/** A client bound to one engine. */
export class DockerEngineClient {
  readonly endpoint: DockerEndpoint;

  constructor(options: DockerEngineClientOptions) {
    this.endpoint = options.endpoint;
  }

  /** Sends one request; connection failures become `ExecutorUnavailableError`. */
  request(method: string, path: string, options: DockerRequestOptions = {}): Promise<DockerResponse> {
    const query = Object.entries(options.query ?? {})
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
      .join("&");
    const fullPath = query ? `${path}?${query}` : path;
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const target =
      this.endpoint.kind === "unix"
        ? { socketPath: this.endpoint.socketPath }
        : { host: this.endpoint.host, port: this.endpoint.port };
    return new Promise((resolve, reject) => {
      const outgoing = httpRequest(
        {
          ...target,
          method,
          path: fullPath,
          headers: {
            host: "docker",
            ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}),
          },
          timeout: options.timeoutMs ?? 30_000,
          signal: options.signal,
        },
        (response) => {
          readBody(response).then(
            (body) => resolve({ status: response.statusCode ?? 0, body }),
            (error: unknown) => reject(error),
          );
        },
      );
      outgoing.on("timeout", () => {
        outgoing.destroy(
          new ExecutorUnavailableError(
            `The Docker engine at ${this.endpoint.description} did not answer ${method} ${path} in time.`,
          ),
        );
      });
      outgoing.on("error", (error: NodeJS.ErrnoException) => {
        if (TaskWeaverError.isInstance(error) || error.name === "AbortError") reject(error);
        else reject(new ExecutorUnavailableError(describeConnectionError(this.endpoint, error), { cause: error }));
      });
      outgoing.end(payload);
    });
  }

  /** Like `request`, but a status outside `expected` becomes a `DockerApiError` with the engine's message. */
  async call(
    method: string,
    path: string,
    expected: readonly number[],
    options: DockerRequestOptions = {},
  ): Promise<DockerResponse> {
    const response = await this.request(method, path, options);
    if (!expected.includes(response.status)) {
      let detail = response.body.toString("utf8").trim();
      try {
        const parsed = JSON.parse(detail) as { message?: unknown };
        if (typeof parsed.message === "string") detail = parsed.message;
      } catch {
        // Not JSON: keep the raw text.
      }
      throw new DockerApiError(response.status, `Docker ${method} ${path} failed (${response.status}): ${detail}`);
    }
    return response;
  }

  /** Resolves when the engine answers `/_ping`; otherwise throws `ExecutorUnavailableError`. */
  async ping(options: { timeoutMs?: number } = {}): Promise<void> {
    const response = await this.request("GET", "/_ping", { timeoutMs: options.timeoutMs ?? 5_000 });
    if (response.status !== 200) {
      throw new ExecutorUnavailableError(
        `The Docker engine at ${this.endpoint.description} answered /_ping with status ${response.status}.`,
      );
    }
  }

  async version(): Promise<{ version: string; apiVersion: string }> {
    const response = await this.call("GET", "/version", [200]);
    const parsed = z.object({ Version: z.string(), ApiVersion: z.string() }).parse(JSON.parse(response.body.toString()));
    return { version: parsed.Version, apiVersion: parsed.ApiVersion };
  }

  /** True when the image exists locally. */
  async imageExists(image: string): Promise<boolean> {
    const response = await this.request("GET", `/images/${encodeURIComponent(image)}/json`);
    if (response.status === 200) return true;
    if (response.status === 404) return false;
    throw new DockerApiError(response.status, `Docker could not inspect image ${image}: ${response.body.toString()}`);
  }

  /** Creates a container and returns its id. */
  async createContainer(spec: Record<string, unknown>, name?: string): Promise<string> {
    const response = await this.call("POST", "/containers/create", [201], { body: spec, query: { name } });
    return z.object({ Id: z.string() }).parse(JSON.parse(response.body.toString())).Id;
  }

  async startContainer(id: string): Promise<void> {
    await this.call("POST", `/containers/${id}/start`, [204, 304]);
  }

  async inspectContainer(id: string): Promise<ContainerInspection | undefined> {
    const response = await this.request("GET", `/containers/${id}/json`);
    if (response.status === 404) return undefined;
    if (response.status !== 200) {
      throw new DockerApiError(response.status, `Docker could not inspect container ${id}: ${response.body.toString()}`);
    }
    return ContainerStateSchema.parse(JSON.parse(response.body.toString()));
  }

  /** Sends a signal to the container's main process; a container that is gone or stopped is ignored. */
  async killContainer(id: string, signal = "SIGKILL"): Promise<void> {
    await this.call("POST", `/containers/${id}/kill`, [204, 404, 409], { query: { signal } });
  }

  /** Gives a container a new name (the engine refuses a name in use: 409). */
  async renameContainer(id: string, name: string): Promise<void> {
    await this.call("POST", `/containers/${id}/rename`, [204], { query: { name } });
  }

  /** Removes a container (killing it first); a container that is already gone is fine. */
  async removeContainer(id: string): Promise<void> {
    await this.call("DELETE", `/containers/${id}`, [204, 404, 409], { query: { force: true, v: true } });
  }

  /** Containers (running or not) carrying all the given labels (`key` or `key=value`). */
  async listContainers(labels: readonly string[]): Promise<ContainerSummary[]> {
    const filters = JSON.stringify({ label: labels });
    const response = await this.call("GET", "/containers/json", [200], { query: { all: true, filters } });
    return z.array(ContainerSummarySchema).parse(JSON.parse(response.body.toString()));
  }

  /**
   * Waits until the container stops and resolves with its exit code. Long-polls the engine, so
   * pass a signal to stop waiting.
   */
  async waitContainer(id: string, signal?: AbortSignal): Promise<number> {
    const response = await this.call("POST", `/containers/${id}/wait`, [200], {
      signal,
      timeoutMs: 0,
      // "next-exit": the wait starts before the container does, and "not-running" would return at once.
      query: { condition: "next-exit" },
    });
    return z.object({ StatusCode: z.number() }).parse(JSON.parse(response.body.toString())).StatusCode;
  }

  /** The container's stdout and stderr so far (the last `tail` lines), demultiplexed. */
  async containerLogs(id: string, tail = 50): Promise<string> {
    const response = await this.request("GET", `/containers/${id}/logs`, {
      query: { stdout: true, stderr: true, tail },
    });
    if (response.status !== 200) return "";
    return demultiplexLogs(response.body);
  }

  /** One memory sample of a running container. */
  async containerMemory(id: string): Promise<ContainerMemory> {
    const response = await this.call("GET", `/containers/${id}/stats`, [200], { query: { stream: false } });
    const stats = StatsSchema.parse(JSON.parse(response.body.toString())).memory_stats;
    return {
      resident: stats.stats?.rss ?? stats.stats?.anon,
      usage: stats.usage,
      limit: stats.limit,
    };
  }
}

/**
 * Containers without a TTY stream logs as frames: 1 byte stream id, 3 zero bytes, 4 bytes
 * big-endian length, then the payload. Text that does not look framed is returned as is.
 */
export function demultiplexLogs(data: Buffer): string {
  const parts: string[] = [];
  let offset = 0;
  while (offset + 8 <= data.length) {
    const stream = data[offset]!;
    if (stream > 2 || data[offset + 1] !== 0 || data[offset + 2] !== 0 || data[offset + 3] !== 0) {
      return data.toString("utf8");
    }
    const size = data.readUInt32BE(offset + 4);
    parts.push(data.subarray(offset + 8, offset + 8 + size).toString("utf8"));
    offset += 8 + size;
  }
  return offset === 0 ? data.toString("utf8") : parts.join("");
}

/** Creates a client for the configured engine (explicit address, `DOCKER_HOST`, or the default socket). */
export function createDockerEngineClient(
  options: { host?: string; env?: Record<string, string | undefined> } = {},
): DockerEngineClient {
  return new DockerEngineClient({ endpoint: resolveDockerEndpoint(options.host, options.env) });
}
