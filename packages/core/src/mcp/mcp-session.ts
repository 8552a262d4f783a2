import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv";
import { z } from "zod";
import type { CodeExecutor, HostCall, HostCallOptions, PluginLoadSpec, PluginStatus } from "../executor/contract.js";
import type { PluginSpec } from "../plugins/plugin-spec.js";
import type { McpServerConfig, McpServersConfig } from "../config/mcp-servers.js";
import { mcpToolsToPlugins, type McpListedTool } from "./mcp-tools.js";

/** Options of `connectMcpServers`. */
export interface ConnectMcpServersOptions {
  /** Working directory of stdio servers without their own `cwd` (the app directory). */
  cwd: string;
  /** The config file, named in statuses of servers that fail. */
  configFile: string;
  /** How long a server may take to start and list its tools, in ms. @default 30000 */
  startTimeoutMs?: number;
  /** @default { name: "taskweaver", version: "0.1.0" } */
  clientInfo?: { name: string; version: string };
  /** `fetch` of Streamable HTTP servers. @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** The MCP servers of one session, connected, with their tools as plugins. */
export interface McpSessionServers {
  /** One plugin spec per tool of every connected server (`everything.get_sum`). */
  readonly plugins: readonly PluginSpec[];
  /**
   * Binds every connected server in the executor's kernel (and later kernels) and answers its
   * tool calls. Called once the kernel is up.
   */
  attach(executor: CodeExecutor): Promise<void>;
  /** Every server: connected ones as their kernel load went, failed ones with why. */
  statuses(executor: CodeExecutor | undefined): PluginStatus[];
  /** Stops every server (stdio children end; HTTP sessions are closed). Idempotent. */
  close(): Promise<void>;
}

const ToolCallSchema = z.object({
  kind: z.literal("mcp-tool-call"),
  server: z.string(),
  tool: z.string(),
  arguments: z.record(z.string(), z.unknown()).default({}),
});

interface ConnectedServer {
  name: string;
  client: Client;
  tools: Map<string, McpListedTool>;
  validators: Map<string, (input: unknown) => { valid: boolean; errorMessage?: string }>;
  load: PluginLoadSpec;
  plugins: PluginSpec[];
}

interface FailedServer {
  name: string;
  error: string;
}

/** The last lines a failing stdio server wrote to stderr, which usually say why. */
class StderrTail {
  private text = "";
  push(chunk: Buffer | string): void {
    this.text = (this.text + chunk.toString()).slice(-2000);
  }
  lastLine(): string | undefined {
    return this.text.split("\n").map((line) => line.trim()).filter(Boolean).at(-1);
  }
}

function transportFor(
  config: McpServerConfig,
  options: ConnectMcpServersOptions,
  stderr: StderrTail,
): Transport {
  if ("url" in config) {
    return new StreamableHTTPClientTransport(new URL(config.url), {
      requestInit: { headers: config.headers },
      fetch: options.fetch,
    });
  }
  const transport = new StdioClientTransport({
    command: config.command,
    args: config.args,
    env: { ...getDefaultEnvironment(), ...config.env },
    cwd: config.cwd ?? options.cwd,
    stderr: "pipe",
  });
  transport.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk));
  return transport;
}

function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/^MCP error -?\d+: /, "");
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

async function connectOne(
  name: string,
  config: McpServerConfig,
  options: ConnectMcpServersOptions,
  validator: AjvJsonSchemaValidator,
): Promise<ConnectedServer> {
  const stderr = new StderrTail();
  const client = new Client(options.clientInfo ?? { name: "taskweaver", version: "0.1.0" });
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  let listed: McpListedTool[];
  try {
    listed = await withTimeout(
      (async () => {
        await client.connect(transportFor(config, options, stderr), { timeout: timeoutMs });
        const tools: McpListedTool[] = [];
        let cursor: string | undefined;
        do {
          const page = await client.listTools(cursor ? { cursor } : undefined, { timeout: timeoutMs });
          tools.push(...(page.tools as McpListedTool[]));
          cursor = page.nextCursor;
        } while (cursor);
        return tools;
      })(),
      timeoutMs,
      "starting the server and listing its tools",
    );
  } catch (error) {
    await client.close().catch(() => undefined);
    const why = messageOf(error);
    const detail = stderr.lastLine();
    throw new Error(detail && !why.includes(detail) ? `${why} (server stderr: ${detail})` : why, { cause: error });
  }
  const { plugins, load, methods } = mcpToolsToPlugins({ server: name, tools: listed, configFile: options.configFile });
  const tools = new Map([...methods.values()].map((tool) => [tool.name, tool]));
  const validators = new Map<string, (input: unknown) => { valid: boolean; errorMessage?: string }>();
  for (const tool of tools.values()) {
    try {
      validators.set(tool.name, validator.getValidator(tool.inputSchema as never));
    } catch {
      // A schema ajv cannot compile is left to the server to check.
    }
  }
  return { name, client, tools, validators, load, plugins };
}

/** What the kernel gets back for one call; the Python side turns it into a value or McpToolError. */
interface ToolCallReply {
  value?: unknown;
  /** Written by the kernel itself into its working directory: host-side file access may need the busy kernel (remote). */
  artifacts?: { name: string; type: string; mime_type: string; file_name: string; data: string; description: string }[];
  error?: { type: string; message: string };
}

const EXTENSION_OF_MIME: Record<string, string> = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/gif": "gif",
  "image/webp": "webp",
  "image/svg+xml": "svg",
  "audio/wav": "wav",
  "audio/mpeg": "mp3",
};

function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]/g, "_");
}

/** Turns a `tools/call` result into the kernel's reply: structured content, else text; images saved as artifacts. */
function toReply(
  server: ConnectedServer,
  tool: McpListedTool,
  result: { content?: unknown; structuredContent?: unknown; isError?: unknown },
  executionId: string,
): ToolCallReply {
  const content = Array.isArray(result.content) ? (result.content as Record<string, unknown>[]) : [];
  const texts: string[] = [];
  const artifacts: NonNullable<ToolCallReply["artifacts"]> = [];
  let index = 0;
  for (const part of content) {
    if (part.type === "text" && typeof part.text === "string") texts.push(part.text);
    else if ((part.type === "image" || part.type === "audio") && typeof part.data === "string") {
      index += 1;
      const mimeType = typeof part.mimeType === "string" ? part.mimeType : "application/octet-stream";
      artifacts.push({
        name: `${pythonSafe(tool.name)}_${index}`,
        type: part.type === "image" ? "image" : "file",
        mime_type: mimeType,
        file_name: `${executionId}-${safeName(server.name)}-${safeName(tool.name)}-${index}.${EXTENSION_OF_MIME[mimeType] ?? "bin"}`,
        data: part.data,
        description: `${part.type} returned by ${server.name}.${tool.name}`,
      });
    } else if (part.type === "resource" && typeof part.resource === "object" && part.resource !== null) {
      const resource = part.resource as { uri?: unknown; text?: unknown };
      texts.push(typeof resource.text === "string" ? resource.text : `resource ${String(resource.uri)}`);
    } else if (part.type === "resource_link") {
      texts.push(`resource ${String(part.uri)}${typeof part.name === "string" ? ` (${part.name})` : ""}`);
    }
  }
  if (result.isError === true) {
    return { error: { type: "McpToolError", message: `${server.name}.${tool.name} failed: ${texts.join("\n") || "the tool reported an error"}` } };
  }
  const structured = result.structuredContent;
  const value = typeof structured === "object" && structured !== null ? structured : texts.join("\n");
  return { value, artifacts };
}

function pythonSafe(text: string): string {
  return text.replace(/[^A-Za-z0-9_]/g, "_");
}

/**
 * Connects to every enabled server of `mcp.servers` at once and lists its tools. A server
 * that cannot be started or listed is kept as a failure (reported through `statuses`, like a
 * plugin that cannot load); the others work. Never rejects.
 */
export async function connectMcpServers(
  servers: McpServersConfig,
  options: ConnectMcpServersOptions,
): Promise<McpSessionServers> {
  const validator = new AjvJsonSchemaValidator();
  const entries = Object.entries(servers).filter(([, config]) => config.enabled);
  const outcomes = await Promise.all(
    entries.map(([name, config]) =>
      connectOne(name, config, options, validator).then(
        (server) => ({ server }),
        (error: unknown) => ({ failed: { name, error: messageOf(error) } satisfies FailedServer }),
      ),
    ),
  );
  const connected = new Map<string, ConnectedServer>();
  const failed: FailedServer[] = [];
  for (const outcome of outcomes) {
    if ("server" in outcome) connected.set(outcome.server.name, outcome.server);
    else failed.push(outcome.failed);
  }
  let closed = false;

  async function handle(call: HostCall, callOptions: HostCallOptions): Promise<ToolCallReply> {
    const parsed = ToolCallSchema.safeParse(call);
    if (!parsed.success) return { error: { type: "McpToolError", message: `not an MCP tool call: ${parsed.error.issues[0]?.message ?? "bad shape"}` } };
    const request = parsed.data;
    const server = connected.get(request.server);
    if (!server || closed) return { error: { type: "McpToolError", message: `the MCP server ${request.server} is not connected in this session` } };
    const tool = server.tools.get(request.tool);
    if (!tool) return { error: { type: "McpToolError", message: `the MCP server ${request.server} has no tool ${request.tool}` } };
    const check = server.validators.get(tool.name)?.(request.arguments);
    if (check && !check.valid) {
      return {
        error: {
          type: "McpToolError",
          message: `${server.name}.${tool.name} was not called: the arguments do not match its input schema: ${(check.errorMessage ?? "invalid").replace(/\bdata\//g, "/").replace(/\bdata\b/g, "arguments")}`,
        },
      };
    }
    // One signal per call: the SDK leaves its listener on the signal it is given, and one
    // execution may make thousands of calls.
    const thisCall = new AbortController();
    const abort = () => thisCall.abort();
    callOptions.signal.addEventListener("abort", abort, { once: true });
    if (callOptions.signal.aborted) thisCall.abort();
    try {
      const result = await server.client.callTool({ name: tool.name, arguments: request.arguments }, undefined, {
        signal: thisCall.signal,
        // The execution's own time limit bounds the call; a long tool must not fail at the SDK's 60 s.
        timeout: 2 ** 31 - 1,
      });
      return toReply(server, tool, result as { content?: unknown; structuredContent?: unknown; isError?: unknown }, callOptions.executionId);
    } catch (error) {
      if (callOptions.signal.aborted) return { error: { type: "McpToolError", message: `${server.name}.${tool.name} was cancelled` } };
      return { error: { type: "McpToolError", message: `${server.name}.${tool.name} failed: ${messageOf(error)}` } };
    } finally {
      callOptions.signal.removeEventListener("abort", abort);
    }
  }

  return {
    plugins: [...connected.values()].flatMap((server) => server.plugins),
    async attach(target) {
      if (connected.size === 0) return;
      target.setHostCallHandler?.((call, callOptions) => handle(call, callOptions));
      for (const server of connected.values()) await target.loadPlugin(server.load);
    },
    statuses(target) {
      const states = new Map((target?.pluginStates ?? []).map((state) => [state.name, state]));
      const hint = `check mcp.servers.${"<name>"} in ${options.configFile}`;
      return [
        ...[...connected.values()].map((server): PluginStatus => {
          const state = states.get(server.load.name);
          return state && !state.loaded
            ? { name: server.load.name, loaded: false, error: state.error ?? "it did not load", file: options.configFile, hint: "the kernel could not bind the MCP server's object" }
            : { name: server.load.name, loaded: true };
        }),
        ...failed.map((server): PluginStatus => ({
          name: server.name,
          loaded: false,
          error: `MCP server ${server.name} did not start: ${server.error}`,
          file: options.configFile,
          hint: hint.replace("<name>", server.name),
        })),
      ];
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...connected.values()].map((server) => server.client.close().catch(() => undefined)));
    },
  };
}
