import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { createTaskWeaverMcpServer, type McpSessionSource, type TaskWeaverMcpServer } from "@taskweaver/core";
import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { ApiError } from "../errors.js";
import type { ApiEnvironment } from "../routes/route-context.js";
import type { SessionHost } from "../session-host.js";

/** What the `/mcp` endpoint needs from `createApi`. */
export interface McpRouteOptions {
  taskWeaver: SessionHost;
  /** The API's bearer-key check: the same keys open `/mcp`. */
  auth: MiddlewareHandler<ApiEnvironment>;
  maxBodyBytes: number;
  version: string;
}

interface OpenMcpSession {
  transport: WebStandardStreamableHTTPServerTransport;
  mcp: TaskWeaverMcpServer;
}

function jsonRpcError(status: number, message: string): Response {
  return Response.json({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }, { status });
}

/**
 * TaskWeaver as an MCP server over Streamable HTTP, mounted at `/mcp`: each MCP session (its
 * `Mcp-Session-Id`) gets its own server with its own TaskWeaver sessions, which stop when the
 * client ends the MCP session (`DELETE`). Same API keys as the REST API, as bearer tokens.
 */
export function createMcpRoute(options: McpRouteOptions): Hono<ApiEnvironment> {
  const open = new Map<string, OpenMcpSession>();
  // The sessions of the API host always have `executor` (core's sessions); only test doubles lack it.
  const source = options.taskWeaver as unknown as McpSessionSource;
  const route = new Hono<ApiEnvironment>();
  route.use("*", options.auth);
  route.use(
    "*",
    bodyLimit({
      maxSize: options.maxBodyBytes,
      onError: () => {
        throw new ApiError(413, "payload_too_large", `The request body is larger than ${options.maxBodyBytes} bytes.`);
      },
    }),
  );

  const handle = async (request: Request): Promise<Response> => {
    const sessionId = request.headers.get("mcp-session-id");
    if (sessionId) {
      const session = open.get(sessionId);
      if (!session) return jsonRpcError(404, `No MCP session ${sessionId}; start a new one with initialize.`);
      return session.transport.handleRequest(request);
    }
    if (request.method !== "POST") return jsonRpcError(400, "Start an MCP session with an initialize request (POST) first.");
    const mcp = createTaskWeaverMcpServer({ app: source, serverInfo: { name: "taskweaver", version: options.version } });
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      onsessioninitialized: (id) => {
        open.set(id, { transport, mcp });
      },
      onsessionclosed: async (id) => {
        open.delete(id);
        await mcp.close();
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) open.delete(transport.sessionId);
      void mcp.close();
    };
    await mcp.server.connect(transport);
    const response = await transport.handleRequest(request);
    // A request that did not open a session (not an initialize) leaves nothing behind.
    if (!transport.sessionId) await mcp.close();
    return response;
  };

  route.on(["GET", "POST", "DELETE"], "/", (c) => handle(c.req.raw));
  return route;
}
