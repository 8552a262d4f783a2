import {
  AbortedError,
  ExecutorUnavailableError,
  FileAccessError,
  KernelDiedError,
  TaskWeaverError,
} from "@taskweaver/core";
import { z } from "zod";
import { TOKEN_SOURCES } from "./remote-settings.js";

/** A kernel as the server's REST API describes it. */
export const KernelModelSchema = z
  .object({
    id: z.string(),
    name: z.string().default(""),
    execution_state: z.string().optional(),
  })
  .loose();
export type KernelModel = z.infer<typeof KernelModelSchema>;

/** A file or directory of the Contents API (children are present for directories fetched with content). */
export interface ContentsModel {
  name: string;
  path: string;
  type: "file" | "directory" | "notebook";
  size?: number | null | undefined;
  last_modified?: string | undefined;
  format?: string | null | undefined;
  content?: unknown;
}

export const ContentsModelSchema: z.ZodType<ContentsModel> = z
  .object({
    name: z.string(),
    path: z.string(),
    type: z.enum(["file", "directory", "notebook"]),
    size: z.number().nullable().optional(),
    last_modified: z.string().optional(),
    format: z.string().nullable().optional(),
    content: z.unknown().optional(),
  })
  .loose();

/** Options of {@link createJupyterRestClient}. */
export interface JupyterRestClientOptions {
  /** Server base URL ending with `/`. */
  baseUrl: URL;
  token: string | undefined;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Limit of one REST call. @default 30000 */
  requestTimeoutMs?: number;
}

/** What a Jupyter server (or gateway) offers over HTTP. */
export interface JupyterRestClient {
  readonly baseUrl: URL;
  /** `GET /api/kernels`: proves the server is reachable and the token accepted. */
  listKernels(signal?: AbortSignal): Promise<KernelModel[]>;
  startKernel(
    body: { name: string; path?: string; env?: Record<string, string> },
    signal?: AbortSignal,
  ): Promise<KernelModel>;
  getKernel(kernelId: string): Promise<KernelModel | undefined>;
  deleteKernel(kernelId: string): Promise<void>;
  interruptKernel(kernelId: string): Promise<void>;
  restartKernel(kernelId: string, signal?: AbortSignal): Promise<KernelModel>;
  /** True when `/api/contents` answers (Jupyter Server); false for Kernel/Enterprise Gateway. */
  hasContentsApi(signal?: AbortSignal): Promise<boolean>;
  /** `undefined` when the path does not exist. */
  getContents(
    path: string,
    options?: { content?: boolean; format?: "base64" | "text"; type?: "file" | "directory" },
  ): Promise<ContentsModel | undefined>;
  saveContents(
    path: string,
    model: { type: "file" | "directory"; format?: "base64"; content?: string },
  ): Promise<ContentsModel>;
}

/** An HTTP answer we did not expect; `status` lets callers branch (404, 403...). */
export class JupyterHttpError extends TaskWeaverError {
  readonly status: number;
  private readonly jupyterHttpErrorMarker = true;
  constructor(status: number, message: string) {
    super("remote_http_error", message);
    this.status = status;
  }

  /** Works across duplicated module copies, where `instanceof` would not. */
  static override isInstance(value: unknown): value is JupyterHttpError {
    return (
      TaskWeaverError.isInstance(value) &&
      (value as { jupyterHttpErrorMarker?: unknown }).jupyterHttpErrorMarker === true
    );
  }
}

/** Each path segment is encoded on its own so `/` keeps separating folders. */
export function encodeContentsPath(path: string): string {
  return path
    .split("/")
    .filter((segment) => segment !== "")
    .map((segment) => encodeURIComponent(segment))
    .join("/");
}

function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code === "ECONNREFUSED") return "connection refused (is the server running, and on this port?)";
  if (cause?.code === "ENOTFOUND") return "host not found";
  if (cause?.code === "ECONNRESET") return "connection reset by the server";
  if (cause?.message) return cause.message;
  return error instanceof Error ? error.message : String(error);
}

async function readErrorMessage(response: Response): Promise<string> {
  const text = await response.text().catch(() => "");
  try {
    const parsed = JSON.parse(text) as { message?: unknown; reason?: unknown };
    if (typeof parsed.message === "string" && parsed.message !== "") return parsed.message;
    if (typeof parsed.reason === "string" && parsed.reason !== "") return parsed.reason;
  } catch {
    // Not JSON (a proxy's HTML page, for instance).
  }
  return text.slice(0, 300).trim() || response.statusText;
}

class FetchJupyterRestClient implements JupyterRestClient {
  readonly baseUrl: URL;
  private readonly fetchFunction: typeof fetch;
  private readonly requestTimeoutMs: number;
  private readonly token: string | undefined;

  constructor(options: JupyterRestClientOptions) {
    this.baseUrl = options.baseUrl;
    this.token = options.token;
    this.fetchFunction = options.fetch ?? globalThis.fetch;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  private async call(
    method: string,
    path: string,
    options: { body?: unknown; signal?: AbortSignal; query?: Record<string, string> } = {},
  ): Promise<Response> {
    const url = new URL(path, this.baseUrl);
    for (const [key, value] of Object.entries(options.query ?? {})) url.searchParams.set(key, value);
    const headers: Record<string, string> = { Accept: "application/json" };
    if (this.token !== undefined) headers.Authorization = `token ${this.token}`;
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const timeout = AbortSignal.timeout(this.requestTimeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let response: Response;
    try {
      response = await this.fetchFunction(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal,
      });
    } catch (error) {
      if (options.signal?.aborted) throw new AbortedError();
      if (timeout.aborted) {
        throw new ExecutorUnavailableError(
          `The Jupyter server at ${this.baseUrl.origin}${this.baseUrl.pathname} did not answer ${method} ${url.pathname} ` +
            `within ${Math.round(this.requestTimeoutMs / 1000)} s.`,
          { cause: error },
        );
      }
      throw new ExecutorUnavailableError(
        `Cannot reach the Jupyter server at ${this.baseUrl.href} (execution_service.remote.url): ${describeNetworkError(error)}.`,
        { cause: error },
      );
    }
    if (response.status === 401 || response.status === 403) {
      const detail = await readErrorMessage(response);
      throw new ExecutorUnavailableError(
        `The Jupyter server at ${this.baseUrl.href} refused the request (HTTP ${response.status}${detail ? `: ${detail}` : ""}). ` +
          (this.token === undefined
            ? `No token is configured: set ${TOKEN_SOURCES}.`
            : `The token is probably wrong: check ${TOKEN_SOURCES}.`),
      );
    }
    return response;
  }

  private async json<T>(response: Response, schema: z.ZodType<T>, what: string): Promise<T> {
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ExecutorUnavailableError(
        `The server at ${this.baseUrl.href} answered ${what} with something that is not JSON ` +
          `(is execution_service.remote.url the Jupyter server's base URL?): ${text.slice(0, 200)}`,
      );
    }
    const result = schema.safeParse(parsed);
    if (!result.success) {
      throw new ExecutorUnavailableError(
        `The server at ${this.baseUrl.href} answered ${what} in an unexpected shape: ${result.error.issues[0]?.message ?? ""}`,
      );
    }
    return result.data;
  }

  private async failure(response: Response, what: string): Promise<JupyterHttpError> {
    return new JupyterHttpError(
      response.status,
      `${what} failed with HTTP ${response.status}: ${await readErrorMessage(response)}`,
    );
  }

  async listKernels(signal?: AbortSignal): Promise<KernelModel[]> {
    const response = await this.call("GET", "api/kernels", { signal });
    if (!response.ok) {
      const error = await this.failure(response, "Listing kernels");
      throw new ExecutorUnavailableError(
        `The server at ${this.baseUrl.href} does not look like a Jupyter server or gateway: ${error.message}`,
        { cause: error },
      );
    }
    return await this.json(response, z.array(KernelModelSchema), "GET /api/kernels");
  }

  async startKernel(
    body: { name: string; path?: string; env?: Record<string, string> },
    signal?: AbortSignal,
  ): Promise<KernelModel> {
    const response = await this.call("POST", "api/kernels", { body, signal });
    if (!response.ok) {
      const error = await this.failure(response, `Starting a "${body.name}" kernel`);
      throw new ExecutorUnavailableError(
        `${error.message}. Check execution_service.remote.kernel_name (GET /api/kernelspecs lists the names the server knows).`,
        { cause: error },
      );
    }
    return await this.json(response, KernelModelSchema, "POST /api/kernels");
  }

  async getKernel(kernelId: string): Promise<KernelModel | undefined> {
    const response = await this.call("GET", `api/kernels/${encodeURIComponent(kernelId)}`);
    if (response.status === 404) {
      await response.arrayBuffer();
      return undefined;
    }
    if (!response.ok) throw await this.failure(response, "Reading the kernel's state");
    return await this.json(response, KernelModelSchema, "GET /api/kernels/{id}");
  }

  async deleteKernel(kernelId: string): Promise<void> {
    const response = await this.call("DELETE", `api/kernels/${encodeURIComponent(kernelId)}`);
    await response.arrayBuffer();
    // 404: already gone, which is what we wanted.
    if (!response.ok && response.status !== 404) {
      throw new JupyterHttpError(response.status, `Deleting the kernel failed with HTTP ${response.status}.`);
    }
  }

  async interruptKernel(kernelId: string): Promise<void> {
    const response = await this.call("POST", `api/kernels/${encodeURIComponent(kernelId)}/interrupt`);
    if (response.status === 404) {
      await response.arrayBuffer();
      throw new KernelDiedError(
        "The remote kernel no longer exists on the server (it was shut down or culled).",
      );
    }
    if (!response.ok) throw await this.failure(response, "Interrupting the kernel");
    await response.arrayBuffer();
  }

  async restartKernel(kernelId: string, signal?: AbortSignal): Promise<KernelModel> {
    const response = await this.call("POST", `api/kernels/${encodeURIComponent(kernelId)}/restart`, {
      signal,
    });
    if (response.status === 404) {
      await response.arrayBuffer();
      throw new KernelDiedError(
        "The remote kernel no longer exists on the server (it was shut down or culled).",
      );
    }
    if (!response.ok) throw await this.failure(response, "Restarting the kernel");
    return await this.json(response, KernelModelSchema, "POST /api/kernels/{id}/restart");
  }

  async hasContentsApi(signal?: AbortSignal): Promise<boolean> {
    const response = await this.call("GET", "api/contents", { signal, query: { content: "0" } });
    await response.arrayBuffer();
    return response.ok;
  }

  async getContents(
    path: string,
    options: { content?: boolean; format?: "base64" | "text"; type?: "file" | "directory" } = {},
  ): Promise<ContentsModel | undefined> {
    const query: Record<string, string> = { content: options.content === false ? "0" : "1" };
    if (options.format !== undefined) query.format = options.format;
    if (options.type !== undefined) query.type = options.type;
    const response = await this.call("GET", `api/contents/${encodeContentsPath(path)}`, { query });
    if (response.status === 404) {
      await response.arrayBuffer();
      return undefined;
    }
    if (response.status === 400 && options.type !== undefined) {
      // "x is not a file/directory": treat like a missing path of the wanted type.
      await response.arrayBuffer();
      return undefined;
    }
    if (!response.ok) throw await this.failure(response, `Reading ${path} through the Contents API`);
    return await this.json(response, ContentsModelSchema, "GET /api/contents");
  }

  async saveContents(
    path: string,
    model: { type: "file" | "directory"; format?: "base64"; content?: string },
  ): Promise<ContentsModel> {
    const response = await this.call("PUT", `api/contents/${encodeContentsPath(path)}`, { body: model });
    if (!response.ok) {
      const error = await this.failure(response, `Writing ${path} through the Contents API`);
      if (response.status === 404 || response.status === 400) {
        throw new FileAccessError("file_not_found", error.message);
      }
      throw error;
    }
    return await this.json(response, ContentsModelSchema, "PUT /api/contents");
  }
}

/** Creates the REST half of the remote runtime; the WebSocket half is `connectKernelWebSocket`. */
export function createJupyterRestClient(options: JupyterRestClientOptions): JupyterRestClient {
  return new FetchJupyterRestClient(options);
}
