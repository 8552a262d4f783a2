import { z } from "zod";
import { fieldPath } from "../parsing/zod-issues.js";

const StringMapSchema = z.record(z.string(), z.string());

/** A server started as a child process, spoken to over its stdin and stdout. */
export const McpStdioServerSchema = z
  .object({
    /** @default "stdio" */
    type: z.literal("stdio").optional(),
    /** The program, e.g. `npx` or `/usr/bin/python3`. */
    command: z.string().min(1, "must name the program to start"),
    /** @default [] */
    args: z.array(z.string()).default([]),
    /** Added to the inherited environment (`PATH`, `HOME`, ...). @default {} */
    env: StringMapSchema.default({}),
    /** Working directory of the server. @default the app directory */
    cwd: z.string().optional(),
    /** Leave the server out without deleting its entry. @default true */
    enabled: z.boolean().default(true),
  })
  .strict();

/** A server reached over Streamable HTTP. */
export const McpHttpServerSchema = z
  .object({
    /** `"sse"` is not supported; `"http"` and `"streamable-http"` mean the same. @default "http" */
    type: z.enum(["http", "streamable-http"]).optional(),
    /** The server's MCP endpoint, e.g. `https://example.com/mcp`. */
    url: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }),
    /** Sent with every request, e.g. `{ "Authorization": "Bearer ..." }`. @default {} */
    headers: StringMapSchema.default({}),
    /** @default true */
    enabled: z.boolean().default(true),
  })
  .strict();

export type McpStdioServerConfig = z.output<typeof McpStdioServerSchema>;
export type McpHttpServerConfig = z.output<typeof McpHttpServerSchema>;
/** One entry of `mcp.servers`. */
export type McpServerConfig = McpStdioServerConfig | McpHttpServerConfig;

function describe(error: z.ZodError, server: string): string {
  return error.issues
    .map((issue) => {
      const path = fieldPath(issue.path);
      const message = issue.code === "unrecognized_keys" ? `has unknown field(s) ${issue.keys.map((key) => `"${key}"`).join(", ")}` : issue.message;
      return `server "${server}"${path ? ` field "${path}"` : ""}: ${message}`;
    })
    .join("; ");
}

/**
 * `mcp.servers`: MCP servers whose tools the generated code may call, in the shape most MCP
 * clients use for `mcpServers` (`{ name: { command, args, env } }` for stdio servers,
 * `{ name: { url, headers } }` for Streamable HTTP). Each entry is checked on its own so the
 * error names the server and the field.
 */
export const McpServersSchema = z
  .record(z.string(), z.unknown())
  .default({})
  .transform((servers, context) => {
    const parsed: Record<string, McpServerConfig> = {};
    for (const [name, value] of Object.entries(servers)) {
      if (!/\S/.test(name)) {
        context.addIssue({ code: "custom", message: "a server name must not be empty" });
        continue;
      }
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        context.addIssue({ code: "custom", message: `server "${name}" must be an object with "command" (stdio) or "url" (Streamable HTTP)` });
        continue;
      }
      const fields = value as Record<string, unknown>;
      if (fields.type === "sse") {
        context.addIssue({ code: "custom", message: `server "${name}": the SSE transport is not supported; use the server's Streamable HTTP endpoint ("url")` });
        continue;
      }
      const isHttp = "url" in fields || fields.type === "http" || fields.type === "streamable-http";
      if (!isHttp && !("command" in fields)) {
        context.addIssue({ code: "custom", message: `server "${name}" needs "command" (a stdio server) or "url" (a Streamable HTTP server)` });
        continue;
      }
      const result = (isHttp ? McpHttpServerSchema : McpStdioServerSchema).safeParse(value);
      if (!result.success) {
        context.addIssue({ code: "custom", message: describe(result.error, name) });
        continue;
      }
      parsed[name] = result.data;
    }
    return parsed;
  });

export type McpServersConfig = z.output<typeof McpServersSchema>;
