// The page's calls to the API on its own origin: the bearer key from the tab's session storage
// (never the URL), and every failure turned into a sentence a person can act on.

/** Where the key lives: the tab's session storage, so it goes with the tab and never into a URL. */
const KEY_STORAGE_NAME = "taskweaver-api-key";

/** Why a call failed, in the words the page shows. */
export type ApiFailureKind = "key-required" | "key-rejected" | "server-down" | "request-failed";

/** A failed API call, with the sentence to show. */
export class ApiRequestError extends Error {
  override readonly name = "ApiRequestError";
  constructor(
    readonly kind: ApiFailureKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }

  static isInstance(error: unknown): error is ApiRequestError {
    return error instanceof Error && error.name === "ApiRequestError";
  }
}

export function readApiKey(): string | undefined {
  try {
    return sessionStorage.getItem(KEY_STORAGE_NAME) ?? undefined;
  } catch {
    return undefined;
  }
}

export function storeApiKey(key: string | undefined): void {
  if (key === undefined) sessionStorage.removeItem(KEY_STORAGE_NAME);
  else sessionStorage.setItem(KEY_STORAGE_NAME, key);
}

export function authorizationHeaders(): Record<string, string> {
  const key = readApiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/** The API's error body: `{error: {code, message}}`. */
async function errorMessage(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { error?: { message?: string } };
    if (body.error?.message) return body.error.message;
  } catch {
    // Not JSON: a proxy's page, say. The status says enough.
  }
  return `The server answered ${response.status} ${response.statusText}.`;
}

/** The error a non-OK answer stands for. */
export async function failureOf(response: Response): Promise<ApiRequestError> {
  if (response.status === 401) {
    return readApiKey()
      ? new ApiRequestError("key-rejected", "The API key was not accepted. Enter another key.", 401)
      : new ApiRequestError("key-required", "This server needs an API key.", 401);
  }
  return new ApiRequestError("request-failed", await errorMessage(response), response.status);
}

/**
 * `fetch` with the key, where a server that does not answer and a non-OK answer both become an
 * {@link ApiRequestError}. Also given to the chat transport, so chat failures read the same.
 */
export async function apiFetch(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  for (const [name, value] of Object.entries(authorizationHeaders())) headers.set(name, value);
  let response: Response;
  try {
    response = await fetch(input, { ...init, headers });
  } catch (error) {
    if (init.signal?.aborted) throw error;
    throw new ApiRequestError(
      "server-down",
      `The TaskWeaver server at ${location.origin} does not answer. Is it running?`,
    );
  }
  if (!response.ok) throw await failureOf(response);
  return response;
}

export async function apiJson<T>(path: string, init: RequestInit = {}): Promise<T> {
  const response = await apiFetch(`/api/v1${path}`, {
    ...init,
    headers: { ...(init.body ? { "content-type": "application/json" } : {}), ...init.headers },
  });
  return (await response.json()) as T;
}

/** A session as the API lists it. */
export interface SessionSummary {
  id: string;
  created_at: string;
  state: "idle" | "running" | "stopped";
}

/** A post of a stored round (the API's `Post`). */
export interface StoredPost {
  id: string;
  send_from: string;
  send_to: string;
  message: string;
  attachment_list: { id: string; type: string; content: string; extra?: unknown }[];
}

/** A stored round (the API's `StoredRound`). */
export interface StoredRound {
  id: string;
  user_query: string;
  state: "created" | "finished" | "failed";
  post_list: StoredPost[];
  error: { code: string; message: string } | null;
  created_at: string;
  finished_at: string | null;
}

export interface SessionDetail extends SessionSummary {
  rounds: StoredRound[];
}

/** A file of the session's working directory. */
export interface SessionFile {
  name: string;
  size: number;
  modified_at: string;
}

export const sessionPath = (id: string) => `/sessions/${encodeURIComponent(id)}`;

export const fileUrl = (sessionId: string, name: string) =>
  `/api/v1${sessionPath(sessionId)}/files/${name.split("/").map(encodeURIComponent).join("/")}`;

export const listSessions = () => apiJson<{ sessions: SessionSummary[] }>("/sessions");
export const createSession = () => apiJson<SessionSummary>("/sessions", { method: "POST" });
export const getSession = (id: string) => apiJson<SessionDetail>(sessionPath(id));
export const deleteSession = (id: string) => apiFetch(`/api/v1${sessionPath(id)}`, { method: "DELETE" });
export const listFiles = (id: string) => apiJson<{ files: SessionFile[] }>(`${sessionPath(id)}/files`);
export const interruptRound = (id: string) =>
  apiJson<{ interrupted: boolean }>(`${sessionPath(id)}/interrupt`, { method: "POST" });

/** Approves or rejects a code block waiting for approval; `code` runs edited code instead. */
export const decideApproval = (
  sessionId: string,
  approvalId: string,
  decision: { decision: "approve" | "reject"; reason?: string; code?: string },
) =>
  apiJson<unknown>(`${sessionPath(sessionId)}/approvals/${encodeURIComponent(approvalId)}`, {
    method: "POST",
    body: JSON.stringify(decision),
  });
