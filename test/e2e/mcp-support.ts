// Shared by the MCP end-to-end tests: where server-everything is, and the client-side suite
// every runtime (local, container, remote) runs.
import { createRequire } from "node:module";
import type { Session, TaskWeaverApp } from "@taskweaver/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const require = createRequire(import.meta.url);

/** The stdio entry of `@modelcontextprotocol/server-everything`, run with this Node (no network, no npx). */
export const EVERYTHING_SERVER_SCRIPT = require.resolve("@modelcontextprotocol/server-everything/dist/index.js");

/** `mcp.servers` entry that starts server-everything over stdio. */
export function everythingServerConfig(): { command: string; args: string[] } {
  return { command: process.execPath, args: [EVERYTHING_SERVER_SCRIPT, "stdio"] };
}

/** `mcp.servers` with server-everything and a server whose program does not exist. */
export function mcpServersForTests(): Record<string, unknown> {
  return {
    everything: everythingServerConfig(),
    "broken-server": { command: "/nonexistent/mcp-server-that-is-not-there" },
  };
}

/**
 * The client-side behaviour, through a real kernel of the runtime `app` uses: server-everything's
 * tools called from Python, results, errors, refusals, images, a server that cannot start,
 * and the execution timeout interrupting a call in flight.
 */
export function describeMcpClientSuite(runtime: string, getApp: () => TaskWeaverApp): void {
  describe(`MCP tools from the generated Python (${runtime})`, () => {
    let session: Session;
    const run = async (code: string, options: { timeoutMs?: number } = {}) => (await session.executor()).execute(code, options);

    beforeAll(async () => {
      session = await getApp().createSession({ warmUp: false });
      await session.executor();
    });
    afterAll(async () => {
      await session?.stop();
    });

    it("calls everything.get_sum(a=2, b=3) on the server and returns its text", async () => {
      const result = await run("everything.get_sum(a=2, b=3)");
      expect(result.error).toBeUndefined();
      expect(result.output).toBe("'The sum of 2 and 3 is 5.'");
    });

    it("passes a string argument through everything.echo and returns the echo", async () => {
      const result = await run('reply = everything.echo(message="héllo from the kernel \\"quoted\\"")\nprint(type(reply).__name__, reply)');
      expect(result.error).toBeUndefined();
      expect(result.stdout.join("")).toBe('str Echo: héllo from the kernel "quoted"\n');
    });

    it("returns structured content as a dict", async () => {
      const result = await run('weather = everything.get_structured_content(location="Chicago")\nprint(type(weather).__name__, sorted(weather))');
      expect(result.error).toBeUndefined();
      expect(result.stdout.join("")).toBe("dict ['conditions', 'humidity', 'temperature']\n");
    });

    it("raises McpToolError with the server's message when the tool fails", async () => {
      const result = await run(
        "try:\n    everything.get_resource_reference(resourceType='Text', resourceId=0)\nexcept McpToolError as error:\n    print('McpToolError:', error)",
      );
      expect(result.error).toBeUndefined();
      expect(result.stdout.join("")).toContain("McpToolError: everything.get-resource-reference failed:");
      expect(result.stdout.join("")).toContain("Invalid resourceId: 0");
    });

    it("refuses an argument that does not match the tool's input schema, giving the schema's reason, without calling the server", async () => {
      const result = await run('everything.get_sum(a="two", b=3)');
      expect(result.error?.name).toBe("McpToolError");
      expect(result.error?.value).toBe(
        "everything.get-sum was not called: the arguments do not match its input schema: /a must be number",
      );
      const missing = await run("everything.get_sum(a=1)");
      expect(missing.error?.value).toContain("must have required property 'b'");
    });

    it("saves an image the tool returns as an artifact of the execution", async () => {
      const result = await run("everything.get_tiny_image()");
      expect(result.error).toBeUndefined();
      expect(result.artifacts).toHaveLength(1);
      expect(result.artifacts[0]).toMatchObject({ type: "image", mimeType: "image/png" });
      const png = await (await session.executor()).downloadFile(result.artifacts[0]!.path);
      expect([...png.subarray(1, 4)].map((code) => String.fromCharCode(code)).join("")).toBe("PNG");
    });

    it("reports a server that cannot start like a plugin that cannot load, and the session goes on", async () => {
      const broken = session.plugins.find((status) => status.name === "broken-server");
      expect(broken).toMatchObject({ loaded: false });
      expect(broken?.error).toMatch(/^MCP server broken-server did not start: .*ENOENT/);
      expect(session.plugins.find((status) => status.name === "everything")).toEqual({ name: "everything", loaded: true });
      expect((await run("broken_server")).error?.name).toBe("NameError");
      expect((await run("everything.get_sum(a=40, b=2)")).output).toBe("'The sum of 40 and 2 is 42.'");
    });

    it("interrupts a call in flight at the execution timeout and keeps the kernel's variables", async () => {
      await run("kept = 41");
      const started = Date.now();
      const result = await run("everything.trigger_long_running_operation(duration=30, steps=30)", { timeoutMs: 1_500 });
      expect(result.outcome).toBe("timeout");
      // Far below the operation's 30 s: the call was abandoned, not waited for (slack for a loaded machine).
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(result.notes.join(" ")).toContain("variables are preserved");
      expect((await run("kept + 1")).output).toBe("42");
      expect((await run("everything.get_sum(a=1, b=1)")).output).toBe("'The sum of 1 and 1 is 2.'");
    });
  });
}
