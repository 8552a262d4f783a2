/**
 * A scripted, OpenAI-compatible HTTP server for tests. It speaks the real wire format
 * (`chat.completion`, SSE `chat.completion.chunk` frames, embeddings, models, error JSON) so
 * the real `openai` SDK and our client run unchanged against it, and it records every request
 * so tests can assert on what was sent.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** A tool (function) call the fake model makes. */
export interface ScriptedToolCall {
  name: string;
  /** JSON text, or an object that is serialised with `JSON.stringify`. */
  arguments: string | Record<string, unknown>;
  /** @default `call_<n>` */
  id?: string;
}

/** One scripted answer to a chat-completion request. */
export interface ScriptedResponse {
  /** Text of the assistant message. @default "" */
  content?: string;
  toolCalls?: ScriptedToolCall[];
  /** Answer with an OpenAI-style error JSON and this HTTP status instead of a completion. */
  status?: number;
  /** Replaces the default `{ error: { message, type, code } }` body of an error answer. */
  errorBody?: unknown;
  /**
   * Extra response headers. A 429 without headers gets `retry-after-ms: 1` so retry tests
   * stay fast.
   */
  headers?: Record<string, string>;
  /** Wait this long before answering (headers included). @default 0 */
  delayMs?: number;
  /** Characters per streamed content/argument piece. @default the server's `chunkSize` (8) */
  chunkSize?: number;
  /** Pause between streamed chunks; 0 still yields to the event loop. @default the server's `chunkDelayMs` (0) */
  chunkDelayMs?: number;
  /** Cut the connection after sending this many SSE frames (0: before any response). */
  disconnectAfterChunks?: number;
  /**
   * Streamed answers only: after `afterChunks` SSE frames (default 1, the role frame), send
   * `data: {"error": {...}}` and end the stream, as OpenAI does when it fails mid-answer.
   */
  streamError?: { message: string; afterChunks?: number };
  /** @default "tool_calls" when there are tool calls, else "stop" */
  finishReason?: string;
  /** Token counts to report. @default estimated from the text length (4 characters a token) */
  usage?: { promptTokens?: number; completionTokens?: number };
}

/** A request as the fake server received it. */
export interface RecordedRequest {
  method: string;
  /** The path without the query string, e.g. `/v1/chat/completions`. */
  path: string;
  query: Record<string, string>;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** The parsed JSON body (`undefined` for a request without a body). */
  body: unknown;
  /** The Azure deployment name, for `/openai/deployments/{deployment}/...` requests. */
  deployment?: string;
  /** `Date.now()` when the request arrived. */
  receivedAt: number;
  /** `Date.now()` when the answer was completely written (unset while in flight or if cut). */
  finishedAt?: number;
  /** `Date.now()` when the first SSE frame was written (streamed answers only). */
  firstChunkAt?: number;
  /** True when the client went away before the answer was complete. */
  closedByClient: boolean;
}

export interface FakeOpenAIServerOptions {
  /** Scripted chat-completion answers, used in order. A string is `{ content }`. */
  responses?: (ScriptedResponse | string)[];
  /** Answers chat completions once the queue is empty. Without it an empty queue is a 500. */
  handler?: (request: RecordedRequest) => ScriptedResponse | string | Promise<ScriptedResponse | string>;
  /** Embedding of one input text. @default a deterministic 16-dimension bag-of-trigrams vector */
  embed?: (text: string) => number[];
  /** Ids listed by `GET /v1/models`. @default ["fake-model", "fake-embedding"] */
  models?: string[];
  /** @default 8 */
  chunkSize?: number;
  /** @default 0 */
  chunkDelayMs?: number;
}

export interface FakeOpenAIServer {
  /** `http://127.0.0.1:PORT/v1`: use as `llm.api_base`. */
  readonly url: string;
  /** `http://127.0.0.1:PORT`: use as the Azure endpoint. */
  readonly origin: string;
  readonly port: number;
  /** Every request received so far, in arrival order. */
  readonly requests: RecordedRequest[];
  /** The chat-completion requests only. */
  readonly chatRequests: RecordedRequest[];
  /** Scripted answers not used yet. */
  readonly pendingResponses: number;
  /** Adds scripted chat-completion answers (FIFO). */
  enqueue(...responses: (ScriptedResponse | string)[]): void;
  /** Stops listening and destroys open connections. */
  close(): Promise<void>;
}

const NO_RESPONSE_LEFT = "fake server: no scripted response left";

/** Starts the fake server on 127.0.0.1 with a random port. */
export async function startFakeOpenAIServer(
  options: FakeOpenAIServerOptions = {},
): Promise<FakeOpenAIServer> {
  const queue: ScriptedResponse[] = (options.responses ?? []).map(normalize);
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const defaultChunkSize = options.chunkSize ?? 8;
  const defaultChunkDelayMs = options.chunkDelayMs ?? 0;
  const embed = options.embed ?? defaultEmbedding;
  const models = options.models ?? ["fake-model", "fake-embedding"];
  let completionCounter = 0;

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) {
        sendError(response, 500, `fake server: internal error: ${String(error)}`);
      } else {
        response.destroy();
      }
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const parsedUrl = new URL(request.url ?? "/", "http://127.0.0.1");
    const rawBody = await readBody(request);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
    }
    const recorded: RecordedRequest = {
      method: request.method ?? "GET",
      path: parsedUrl.pathname,
      query: Object.fromEntries(parsedUrl.searchParams),
      headers,
      body: undefined,
      receivedAt: Date.now(),
      closedByClient: false,
    };
    const deploymentMatch = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/.exec(
      recorded.path,
    );
    if (deploymentMatch?.[1] !== undefined) recorded.deployment = decodeURIComponent(deploymentMatch[1]);
    requests.push(recorded);
    response.on("close", () => {
      if (!response.writableFinished) recorded.closedByClient = true;
    });

    if (rawBody.length > 0) {
      try {
        recorded.body = JSON.parse(rawBody);
      } catch {
        sendError(response, 400, "fake server: the request body is not valid JSON", "invalid_request_error");
        return;
      }
    }

    const endpoint = deploymentMatch?.[2] ?? parsedUrl.pathname.replace(/^\/v1\//, "");
    if (request.method === "POST" && endpoint === "chat/completions") {
      await answerChat(recorded, response);
    } else if (request.method === "POST" && endpoint === "embeddings") {
      answerEmbeddings(recorded, response);
    } else if (request.method === "GET" && endpoint === "models") {
      sendJson(response, 200, {
        object: "list",
        data: models.map((id) => ({ id, object: "model", created: 1_700_000_000, owned_by: "fake" })),
      });
      recorded.finishedAt = Date.now();
    } else {
      sendError(
        response,
        404,
        `fake server: no route for ${request.method} ${parsedUrl.pathname}`,
        "invalid_request_error",
      );
    }
  }

  async function answerChat(recorded: RecordedRequest, response: ServerResponse): Promise<void> {
    const body = (recorded.body ?? {}) as ChatBody;
    let scripted = queue.shift();
    if (scripted === undefined && options.handler !== undefined) {
      scripted = normalize(await options.handler(recorded));
    }
    if (scripted === undefined) {
      sendError(response, 500, NO_RESPONSE_LEFT, "server_error");
      return;
    }
    if (scripted.delayMs !== undefined && scripted.delayMs > 0) {
      await sleep(scripted.delayMs);
      if (response.destroyed) return;
    }
    if (scripted.disconnectAfterChunks === 0) {
      response.socket?.destroy();
      return;
    }
    if (scripted.status !== undefined && scripted.status >= 400) {
      const extraHeaders = scripted.headers ?? (scripted.status === 429 ? { "retry-after-ms": "1" } : {});
      const errorBody = scripted.errorBody ?? {
        error: {
          message: `fake server: scripted error with status ${scripted.status}`,
          type:
            scripted.status === 429
              ? "rate_limit_exceeded"
              : scripted.status >= 500
                ? "server_error"
                : "invalid_request_error",
          param: null,
          code: scripted.status === 429 ? "rate_limit_exceeded" : null,
        },
      };
      sendJson(response, scripted.status, errorBody, extraHeaders);
      recorded.finishedAt = Date.now();
      return;
    }

    completionCounter += 1;
    const id = `chatcmpl-fake-${completionCounter}`;
    const created = Math.floor(Date.now() / 1000);
    const model = typeof body.model === "string" ? body.model : (recorded.deployment ?? "fake-model");
    const content = scripted.content ?? "";
    const toolCalls = (scripted.toolCalls ?? []).map((call, index) => ({
      id: call.id ?? `call_${completionCounter}_${index}`,
      name: call.name,
      arguments: typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments),
    }));
    const finishReason = scripted.finishReason ?? (toolCalls.length > 0 ? "tool_calls" : "stop");
    const promptTokens = scripted.usage?.promptTokens ?? estimateTokens(JSON.stringify(body.messages ?? []));
    const completionTokens =
      scripted.usage?.completionTokens ??
      estimateTokens(content + toolCalls.map((call) => call.name + call.arguments).join(""));
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    };

    if (body.stream !== true) {
      sendJson(
        response,
        200,
        {
          id,
          object: "chat.completion",
          created,
          model,
          system_fingerprint: "fp_fake",
          choices: [
            {
              index: 0,
              message: {
                role: "assistant",
                content: toolCalls.length > 0 && content === "" ? null : content,
                refusal: null,
                ...(toolCalls.length > 0
                  ? {
                      tool_calls: toolCalls.map((call) => ({
                        id: call.id,
                        type: "function",
                        function: { name: call.name, arguments: call.arguments },
                      })),
                    }
                  : {}),
              },
              logprobs: null,
              finish_reason: finishReason,
            },
          ],
          usage,
        },
        scripted.headers,
      );
      recorded.finishedAt = Date.now();
      return;
    }

    const includeUsage = body.stream_options?.include_usage === true;
    const chunkSize = Math.max(1, scripted.chunkSize ?? defaultChunkSize);
    const chunkDelayMs = scripted.chunkDelayMs ?? defaultChunkDelayMs;
    const frame = (choices: unknown[], extra: Record<string, unknown> = {}): unknown => ({
      id,
      object: "chat.completion.chunk",
      created,
      model,
      system_fingerprint: "fp_fake",
      choices,
      ...(includeUsage ? { usage: null } : {}),
      ...extra,
    });
    const delta = (value: Record<string, unknown>, finish: string | null = null): unknown =>
      frame([{ index: 0, delta: value, logprobs: null, finish_reason: finish }]);

    const frames: unknown[] = [delta({ role: "assistant", content: "", refusal: null })];
    for (const piece of split(content, chunkSize)) frames.push(delta({ content: piece }));
    toolCalls.forEach((call, index) => {
      frames.push(
        delta({
          tool_calls: [
            { index, id: call.id, type: "function", function: { name: call.name, arguments: "" } },
          ],
        }),
      );
      for (const piece of split(call.arguments, chunkSize)) {
        frames.push(delta({ tool_calls: [{ index, function: { arguments: piece } }] }));
      }
    });
    frames.push(delta({}, finishReason));
    if (includeUsage) frames.push(frame([], { usage }));

    response.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      ...scripted.headers,
    });
    response.flushHeaders();
    let sent = 0;
    for (const item of frames) {
      if (response.destroyed) return;
      if (scripted.disconnectAfterChunks !== undefined && sent >= scripted.disconnectAfterChunks) {
        response.socket?.destroy();
        return;
      }
      if (sent > 0) await (chunkDelayMs > 0 ? sleep(chunkDelayMs) : yieldToEventLoop());
      if (response.destroyed) return;
      if (scripted.streamError !== undefined && sent >= (scripted.streamError.afterChunks ?? 1)) {
        const errorFrame = {
          error: { message: scripted.streamError.message, type: "server_error", param: null, code: null },
        };
        response.end(`data: ${JSON.stringify(errorFrame)}\n\n`);
        recorded.finishedAt = Date.now();
        return;
      }
      // Waiting for the flush keeps frames apart in time and lets a scripted disconnect come
      // after the frames before it really left.
      await new Promise<void>((resolve) =>
        response.write(`data: ${JSON.stringify(item)}\n\n`, () => resolve()),
      );
      if (sent === 0) recorded.firstChunkAt = Date.now();
      sent += 1;
    }
    if (response.destroyed) return;
    response.end("data: [DONE]\n\n");
    recorded.finishedAt = Date.now();
  }

  function answerEmbeddings(recorded: RecordedRequest, response: ServerResponse): void {
    const body = (recorded.body ?? {}) as { input?: unknown; model?: unknown; encoding_format?: unknown };
    const inputs =
      typeof body.input === "string" ? [body.input] : Array.isArray(body.input) ? body.input : undefined;
    if (inputs === undefined || !inputs.every((input): input is string => typeof input === "string")) {
      sendError(
        response,
        400,
        "fake server: `input` must be a string or an array of strings",
        "invalid_request_error",
      );
      return;
    }
    // The SDK asks for base64 by default and decodes it itself; answer in the format asked for.
    const base64 = body.encoding_format === "base64";
    const promptTokens = inputs.reduce((total, input) => total + estimateTokens(input), 0);
    sendJson(response, 200, {
      object: "list",
      data: inputs.map((input, index) => {
        const vector = embed(input);
        return {
          object: "embedding",
          index,
          embedding: base64 ? Buffer.from(new Float32Array(vector).buffer).toString("base64") : vector,
        };
      }),
      model: typeof body.model === "string" ? body.model : (recorded.deployment ?? "fake-embedding"),
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    });
    recorded.finishedAt = Date.now();
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  let closed: Promise<void> | undefined;

  return {
    url: `${origin}/v1`,
    origin,
    port,
    requests,
    get chatRequests() {
      return requests.filter((request) => request.path.endsWith("/chat/completions"));
    },
    get pendingResponses() {
      return queue.length;
    },
    enqueue(...responses) {
      queue.push(...responses.map(normalize));
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

interface ChatBody {
  model?: unknown;
  messages?: unknown;
  stream?: unknown;
  stream_options?: { include_usage?: unknown };
}

function normalize(response: ScriptedResponse | string): ScriptedResponse {
  return typeof response === "string" ? { content: response } : response;
}

function split(text: string, size: number): string[] {
  const pieces: string[] = [];
  // Split by code points so a streamed piece never ends inside a surrogate pair.
  const characters = Array.from(text);
  for (let start = 0; start < characters.length; start += size) {
    pieces.push(characters.slice(start, start + size).join(""));
  }
  return pieces;
}

function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** Texts sharing character trigrams get similar vectors, so retrieval tests mean something. */
function defaultEmbedding(text: string): number[] {
  const dimensions = 16;
  const vector = new Array<number>(dimensions).fill(0);
  const normalized = ` ${text.toLowerCase()} `;
  for (let index = 0; index + 3 <= normalized.length; index += 1) {
    const digest = createHash("sha1")
      .update(normalized.slice(index, index + 3))
      .digest();
    vector[digest[0]! % dimensions]! += 1;
  }
  const length = Math.hypot(...vector) || 1;
  return vector.map((value) => value / length);
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

function sendError(response: ServerResponse, status: number, message: string, type = "server_error"): void {
  sendJson(response, status, { error: { message, type, param: null, code: null } });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
