import type { Readable, Writable } from "node:stream";
import { createTaskWeaverMcpServer, type McpSessionSource } from "@taskweaver/core";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { ChatApp } from "../app-types.js";

/** Options of `runMcpServer`. */
export interface RunMcpServerOptions {
  /** The loaded app; its sessions must have `executor` (the real core's do). */
  app: ChatApp;
  /** Carries the MCP client's messages. */
  stdin: NodeJS.ReadableStream;
  /** Carries ours: nothing else may be written to it. */
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** Aborting ends the server (Ctrl-C, SIGTERM). */
  signal?: AbortSignal;
  version: string;
}

/**
 * `taskweaver mcp`: serves the app as an MCP server over stdio until the client closes stdin
 * (or the signal aborts), then stops the sessions it opened and the app. Resolves with the
 * exit code.
 */
export async function runMcpServer(options: RunMcpServerOptions): Promise<number> {
  const mcp = createTaskWeaverMcpServer({
    app: options.app as unknown as McpSessionSource,
    serverInfo: { name: "taskweaver", version: options.version },
  });
  const transport = new StdioServerTransport(options.stdin as Readable, options.stdout as unknown as Writable);
  const ended = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    options.stdin.once("end", () => resolve());
    options.stdin.once("close", () => resolve());
    options.signal?.addEventListener("abort", () => resolve(), { once: true });
  });
  await mcp.server.connect(transport);
  options.stderr.write(`taskweaver: MCP server on stdio (app ${options.app.config.appDir}); waiting for a client.\n`);
  await ended;
  await mcp.close();
  await options.app.close().catch(() => undefined);
  return 0;
}
