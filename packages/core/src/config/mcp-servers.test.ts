import { describe, expect, it } from "vitest";
import { loadConfig } from "./load.js";
import { McpServersSchema } from "./mcp-servers.js";

describe("mcp.servers", () => {
  it("reads stdio and Streamable HTTP servers in the common mcpServers shape", () => {
    const parsed = McpServersSchema.parse({
      files: { command: "npx", args: ["-y", "server"], env: { TOKEN: "x" } },
      remote: { url: "https://example.com/mcp", headers: { Authorization: "Bearer y" } },
      typed: { type: "http", url: "http://127.0.0.1:9/mcp" },
    });
    expect(parsed.files).toEqual({ command: "npx", args: ["-y", "server"], env: { TOKEN: "x" }, enabled: true });
    expect(parsed.remote).toEqual({ url: "https://example.com/mcp", headers: { Authorization: "Bearer y" }, enabled: true });
    expect(McpServersSchema.parse(undefined)).toEqual({});
  });

  it("names the server and the field that is wrong", () => {
    const message = (value: unknown) => {
      const result = McpServersSchema.safeParse(value);
      return result.success ? "valid" : result.error.issues.map((issue) => issue.message).join(" | ");
    };
    expect(message({ a: { args: [] } })).toBe('server "a" needs "command" (a stdio server) or "url" (a Streamable HTTP server)');
    expect(message({ a: { command: "x", args: "--flag" } })).toBe('server "a" field "args": Invalid input: expected array, received string');
    expect(message({ a: { url: "ftp://x" } })).toBe('server "a" field "url": must be an http:// or https:// URL');
    expect(message({ a: { command: "x", colour: "red" } })).toBe('server "a": has unknown field(s) "colour"');
    expect(message({ a: { type: "sse", url: "http://x/sse" } })).toContain("SSE transport is not supported");
    expect(message({ a: "npx server" })).toContain('server "a" must be an object');
  });

  it("fails loading the config with the key, where it came from and the reason", () => {
    expect(() => loadConfig({ appDir: process.cwd(), overrides: { "mcp.servers": { a: { command: "" } } } })).toThrow(
      /Config key "mcp\.servers" .* from an explicit override .*server "a" field "command": must name the program to start/,
    );
  });
});
