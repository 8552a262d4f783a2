import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ExecutorUnavailableError, TaskWeaverError } from "@taskweaver/core";
import Docker from "dockerode";
import { z } from "zod";

/**
 * The container runtime's view of the Docker engine: the dozen calls it makes, as a thin layer
 * over `dockerode` (whose docker-modem speaks unix sockets, TCP, TLS and `ssh://`). What this
 * layer adds: the address rules of the Docker CLI (`DOCKER_HOST`, `DOCKER_TLS_VERIFY`,
 * `DOCKER_CERT_PATH`) applied to an explicit address too, errors that say what went wrong with
 * the engine, answers parsed with zod, and per-call timeouts.
 */

/** Where the engine listens. */
export type DockerEndpoint =
  | { kind: "unix"; socketPath: string; description: string }
  | {
      kind: "tcp";
      host: string;
      port: number;
      /** TLS, with the client certificate and CA read from `certPath` when it holds them. */
      tls: boolean;
      /** Folder with `ca.pem`, `cert.pem` and `key.pem` (`DOCKER_CERT_PATH`, else `~/.docker` with TLS). */
      certPath: string | undefined;
      description: string;
    }
  | {
      kind: "ssh";
      host: string;
      port: number;
      username: string | undefined;
      /** The ssh agent's socket (`SSH_AUTH_SOCK`): keys come from the agent, as for `docker -H ssh://`. */
      agent: string | undefined;
      description: string;
    };

/** The advice every "no Docker" message ends with. */
export const SWITCH_TO_LOCAL_HINT =
  "To run code without Docker, set execution_service.kernel_mode to \"local\" in taskweaver_config.json " +
  "or set the environment variable EXECUTION_SERVICE_KERNEL_MODE=local.";

/** The Docker CLI reads any non-empty `DOCKER_TLS_VERIFY` as "on"; "0" and "false" read as off here. */
function isSet(value: string | undefined): boolean {
  const text = value?.trim().toLowerCase();
  return text !== undefined && text !== "" && text !== "0" && text !== "false";
}

/**
 * Resolves the engine address: an explicit value (`execution_service.docker.host`), else
 * `DOCKER_HOST`, else the standard socket `/var/run/docker.sock`. A `tcp://` address uses TLS
 * when `DOCKER_TLS_VERIFY` is set or the port is 2376 (Docker's TLS port), with the certificates
 * of `DOCKER_CERT_PATH` (default `~/.docker` with `DOCKER_TLS_VERIFY`).
 */
export function resolveDockerEndpoint(
  explicit: string | undefined,
  env: Record<string, string | undefined> = process.env,
): DockerEndpoint {
  const value = explicit?.trim() || env.DOCKER_HOST?.trim() || "unix:///var/run/docker.sock";
  if (value.startsWith("unix://")) {
    return { kind: "unix", socketPath: value.slice("unix://".length) || "/var/run/docker.sock", description: value };
  }
  if (value.startsWith("/")) return { kind: "unix", socketPath: value, description: `unix://${value}` };
  const tcp = /^(?:tcp|http):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(value);
  if (tcp) {
    const verify = isSet(env.DOCKER_TLS_VERIFY);
    const port = Number(tcp[2] ?? (verify ? 2376 : 2375));
    const tls = verify || port === 2376;
    const certPath = env.DOCKER_CERT_PATH?.trim() || (verify ? join(env.HOME ?? homedir(), ".docker") : undefined);
    return { kind: "tcp", host: tcp[1]!.replace(/^\[|\]$/g, ""), port, tls, certPath, description: value };
  }
  const ssh = /^ssh:\/\/(?:([^@/]+)@)?(\[[^\]]+\]|[^:/@]+)(?::(\d+))?\/?$/.exec(value);
  if (ssh) {
    return {
      kind: "ssh",
      host: ssh[2]!.replace(/^\[|\]$/g, ""),
      port: Number(ssh[3] ?? 22),
      username: ssh[1] === undefined ? undefined : decodeURIComponent(ssh[1]),
      agent: env.SSH_AUTH_SOCK,
      description: value,
    };
  }
  throw new ExecutorUnavailableError(
    `The Docker address "${value}" is not supported: use unix:///path/to/docker.sock, tcp://host:port ` +
      `(with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH for TLS) or ssh://user@host. ${SWITCH_TO_LOCAL_HINT}`,
  );
}

function readCertificate(folder: string, file: string): string {
  const path = join(folder, file);
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new ExecutorUnavailableError(
      `The Docker TLS certificate ${path} could not be read (${(error as NodeJS.ErrnoException).code ?? String(error)}): ` +
        `DOCKER_CERT_PATH must name a folder with ca.pem, cert.pem and key.pem. ${SWITCH_TO_LOCAL_HINT}`,
      { cause: error },
    );
  }
}

/**
 * The options handed to dockerode for an endpoint. Every connection key is present (undefined
 * when unused) because docker-modem starts from its own reading of `process.env` and lays these
 * over it: an explicit unix socket must not inherit a `tcp://` host from the environment.
 */
export function dockerModemOptions(endpoint: DockerEndpoint): Docker.DockerOptions {
  const none = { socketPath: undefined, host: undefined, port: undefined, protocol: undefined, username: undefined };
  const noTls = { ca: undefined, cert: undefined, key: undefined };
  switch (endpoint.kind) {
    case "unix":
      return { ...none, ...noTls, socketPath: endpoint.socketPath };
    case "tcp": {
      const certificates =
        endpoint.tls && endpoint.certPath !== undefined
          ? {
              ca: readCertificate(endpoint.certPath, "ca.pem"),
              cert: readCertificate(endpoint.certPath, "cert.pem"),
              key: readCertificate(endpoint.certPath, "key.pem"),
            }
          : noTls;
      return {
        ...none,
        ...certificates,
        host: endpoint.host,
        port: endpoint.port,
        protocol: endpoint.tls ? "https" : "http",
      };
    }
    case "ssh":
      return {
        ...none,
        ...noTls,
        host: endpoint.host,
        port: endpoint.port,
        protocol: "ssh",
        username: endpoint.username,
        sshOptions: { agent: endpoint.agent },
      };
  }
}

/** The engine answered with an HTTP error status. */
export class DockerApiError extends TaskWeaverError {
  readonly status: number;
  private readonly dockerApiErrorMarker = true;
  constructor(status: number, message: string) {
    super("docker_api_error", message);
    this.status = status;
  }

  /** Works across duplicated module copies, where `instanceof` would not. */
  static override isInstance(value: unknown): value is DockerApiError {
    return (
      TaskWeaverError.isInstance(value) && (value as { dockerApiErrorMarker?: unknown }).dockerApiErrorMarker === true
    );
  }
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

/** Options of the `DockerEngineClient` constructor. */
export interface DockerEngineClientOptions {
  endpoint: DockerEndpoint;
}

/** Options of one engine call. */
interface CallOptions {
  /** Give up after this many milliseconds; 0 waits as long as it takes. @default 30000 */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Error statuses that are an answer, not a failure (e.g. 404 for "already gone"). */
  accept?: readonly number[];
}

/** What dockerode rejects with: an HTTP status from the engine, or the socket's own error. */
interface EngineFailure {
  statusCode?: number;
  json?: unknown;
  code?: string;
  name?: string;
  message?: string;
}

function describeConnectionError(endpoint: DockerEndpoint, error: EngineFailure): string {
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

/** The engine's own message of an error answer (`{"message": ...}`), else the raw text. */
function engineMessage(failure: EngineFailure): string {
  const body = failure.json;
  if (body && typeof body === "object" && "message" in body && typeof body.message === "string") return body.message;
  if (Buffer.isBuffer(body)) return body.toString("utf8").trim();
  if (typeof body === "string") return body.trim();
  return failure.message ?? "";
}

/** dockerode 5 takes `abortSignal` on these calls too; @types/dockerode 4 does not list it yet. */
interface SignalledEngineCalls {
  ping(options: { abortSignal?: AbortSignal }): Promise<unknown>;
  version(options: { abortSignal?: AbortSignal }): Promise<unknown>;
}

/** A client bound to one engine. */
export class DockerEngineClient {
  readonly endpoint: DockerEndpoint;
  /** The dockerode client underneath, for calls this class does not wrap. */
  readonly docker: Docker;

  constructor(options: DockerEngineClientOptions) {
    this.endpoint = options.endpoint;
    this.docker = new Docker(dockerModemOptions(options.endpoint));
  }

  /**
   * Runs one dockerode call: a status outside the call's own success codes becomes a
   * `DockerApiError` (unless accepted, then `undefined`), an unreachable engine or a timeout an
   * `ExecutorUnavailableError`; the caller's abort passes through as is.
   */
  private async call<T>(
    what: string,
    operation: (abortSignal: AbortSignal | undefined) => Promise<T>,
    options: CallOptions = {},
  ): Promise<T | undefined> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const timeout = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
    const signals = [timeout, options.signal].filter((signal) => signal !== undefined);
    const abortSignal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    try {
      return await operation(abortSignal);
    } catch (error) {
      const failure = (error ?? {}) as EngineFailure;
      if (typeof failure.statusCode === "number") {
        if (options.accept?.includes(failure.statusCode)) return undefined;
        throw new DockerApiError(
          failure.statusCode,
          `Docker ${what} failed (${failure.statusCode}): ${engineMessage(failure)}`,
        );
      }
      if (timeout?.aborted && !options.signal?.aborted) {
        throw new ExecutorUnavailableError(
          `The Docker engine at ${this.endpoint.description} did not answer ${what} in time.`,
          { cause: error },
        );
      }
      if (TaskWeaverError.isInstance(error) || failure.name === "AbortError") throw error;
      throw new ExecutorUnavailableError(describeConnectionError(this.endpoint, failure), { cause: error });
    }
  }

  /** Resolves when the engine answers `/_ping`; otherwise throws `ExecutorUnavailableError`. */
  async ping(options: { timeoutMs?: number } = {}): Promise<void> {
    try {
      await this.call("GET /_ping", (abortSignal) => (this.docker as unknown as SignalledEngineCalls).ping({ abortSignal }), {
        timeoutMs: options.timeoutMs ?? 5_000,
      });
    } catch (error) {
      if (!DockerApiError.isInstance(error)) throw error;
      throw new ExecutorUnavailableError(
        `The Docker engine at ${this.endpoint.description} answered /_ping with status ${error.status}.`,
        { cause: error },
      );
    }
  }

  async version(): Promise<{ version: string; apiVersion: string }> {
    const answer = await this.call("GET /version", (abortSignal) =>
      (this.docker as unknown as SignalledEngineCalls).version({ abortSignal }),
    );
    const parsed = z.object({ Version: z.string(), ApiVersion: z.string() }).parse(answer);
    return { version: parsed.Version, apiVersion: parsed.ApiVersion };
  }

  /** True when the image exists locally. */
  async imageExists(image: string): Promise<boolean> {
    const found = await this.call(`GET /images/${image}/json`, () => this.docker.getImage(image).inspect(), {
      accept: [404],
    });
    return found !== undefined;
  }

  /** Creates a container and returns its id. */
  async createContainer(spec: Record<string, unknown>, name?: string): Promise<string> {
    const container = await this.call("POST /containers/create", (abortSignal) =>
      // `_query` and `_body` keep the name in the query and the spec in the body; without them
      // docker-modem would put the whole spec in the query string too.
      this.docker.createContainer({
        _query: name === undefined ? {} : { name },
        _body: spec,
        abortSignal,
      } as Docker.ContainerCreateOptions),
    );
    return container!.id;
  }

  async startContainer(id: string): Promise<void> {
    // 304: already started.
    await this.call(`POST /containers/${id}/start`, (abortSignal) => this.docker.getContainer(id).start({ abortSignal }), {
      accept: [304],
    });
  }

  async inspectContainer(id: string): Promise<ContainerInspection | undefined> {
    const answer = await this.call(
      `GET /containers/${id}/json`,
      (abortSignal) => this.docker.getContainer(id).inspect({ abortSignal }),
      { accept: [404] },
    );
    return answer === undefined ? undefined : ContainerStateSchema.parse(answer);
  }

  /** Sends a signal to the container's main process; a container that is gone or stopped is ignored. */
  async killContainer(id: string, signal = "SIGKILL"): Promise<void> {
    await this.call(`POST /containers/${id}/kill`, (abortSignal) => this.docker.getContainer(id).kill({ signal, abortSignal }), {
      accept: [404, 409],
    });
  }

  /** Gives a container a new name (the engine refuses a name in use: 409). */
  async renameContainer(id: string, name: string): Promise<void> {
    await this.call(`POST /containers/${id}/rename`, (abortSignal) => this.docker.getContainer(id).rename({ name, abortSignal }));
  }

  /** Removes a container (killing it first); a container that is already gone is fine. */
  async removeContainer(id: string): Promise<void> {
    // 409: a removal is already in progress.
    await this.call(
      `DELETE /containers/${id}`,
      (abortSignal) => this.docker.getContainer(id).remove({ force: true, v: true, abortSignal }),
      { accept: [404, 409] },
    );
  }

  /** Containers (running or not) carrying all the given labels (`key` or `key=value`). */
  async listContainers(labels: readonly string[]): Promise<ContainerSummary[]> {
    const answer = await this.call("GET /containers/json", (abortSignal) =>
      this.docker.listContainers({ all: true, filters: JSON.stringify({ label: labels }), abortSignal }),
    );
    return z.array(ContainerSummarySchema).parse(answer);
  }

  /**
   * Waits until the container stops and resolves with its exit code. Long-polls the engine, so
   * pass a signal to stop waiting.
   */
  async waitContainer(id: string, signal?: AbortSignal): Promise<number> {
    const answer = await this.call(
      `POST /containers/${id}/wait`,
      // "next-exit": the wait starts before the container does, and "not-running" would return at once.
      (abortSignal) => this.docker.getContainer(id).wait({ condition: "next-exit", abortSignal }),
      { signal, timeoutMs: 0 },
    );
    return z.object({ StatusCode: z.number() }).parse(answer).StatusCode;
  }

  /**
   * How many times the memory limit killed a process of the container since `sinceMs` (epoch
   * milliseconds), from the engine's `oom` events. Unlike `State.OOMKilled`, which some engines set
   * only once the container stops, this also counts a kill that left the container running.
   */
  async containerOomEventsSince(id: string, sinceMs: number): Promise<number> {
    const stream = await this.call("GET /events", (abortSignal) =>
      this.docker.getEvents({
        // Whole seconds: the engine compares event times at that grain.
        since: Math.floor(sinceMs / 1000),
        // In the past, so the engine answers with what it has and closes the stream.
        until: Date.now() / 1000,
        filters: JSON.stringify({ container: [id], event: ["oom"] }),
        abortSignal,
      } as unknown as Parameters<Docker["getEvents"]>[0]),
    );
    if (stream === undefined) return 0;
    let text = "";
    for await (const chunk of stream as AsyncIterable<Buffer | string>) text += chunk.toString();
    return text.split("\n").filter((line) => line.includes('"oom"')).length;
  }

  /** The container's stdout and stderr so far (the last `tail` lines), demultiplexed. */
  async containerLogs(id: string, tail = 50): Promise<string> {
    try {
      const answer: unknown = await this.call(`GET /containers/${id}/logs`, (abortSignal) =>
        this.docker.getContainer(id).logs({ stdout: true, stderr: true, tail, follow: false, abortSignal }),
      );
      // docker-modem hands back a Buffer, unless the whole log happens to parse as JSON.
      if (Buffer.isBuffer(answer)) return demultiplexLogs(answer);
      return typeof answer === "string" ? answer : JSON.stringify(answer ?? "");
    } catch (error) {
      if (DockerApiError.isInstance(error)) return "";
      throw error;
    }
  }

  /** One memory sample of a running container. */
  async containerMemory(id: string): Promise<ContainerMemory> {
    const answer = await this.call(`GET /containers/${id}/stats`, (abortSignal) =>
      this.docker.getContainer(id).stats({ stream: false, abortSignal } as { stream: false }),
    );
    const stats = StatsSchema.parse(answer).memory_stats;
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

/**
 * Creates a client for the configured engine (explicit address, `DOCKER_HOST`, or the default
 * socket; TLS from `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`).
 */
export function createDockerEngineClient(
  options: { host?: string; env?: Record<string, string | undefined> } = {},
): DockerEngineClient {
  return new DockerEngineClient({ endpoint: resolveDockerEndpoint(options.host, options.env) });
}
