import { describe, expect, it } from "vitest";
import { pluginToLoadSpec, pluginToPromptSignature, pluginToTool } from "../plugins/plugin-render.js";
import { mcpToolsToPlugins, pythonNameOf } from "./mcp-tools.js";

describe("MCP tools as plugins", () => {
  it("names servers and tools for Python: anything but letters, digits and _ becomes _", () => {
    expect(pythonNameOf("get-sum")).toBe("get_sum");
    expect(pythonNameOf("my.server/v2")).toBe("my_server_v2");
    expect(pythonNameOf("3d")).toBe("_3d");
    expect(pythonNameOf("class")).toBe("class_");
  });

  it("renders a tool as a method signature of the server's object with its schema's parameters", () => {
    const { plugins, load } = mcpToolsToPlugins({
      server: "my-server",
      configFile: "/app/taskweaver_config.json",
      tools: [
        {
          name: "get-sum",
          description: "Adds two numbers",
          inputSchema: {
            type: "object",
            properties: { a: { type: "number", description: "first" }, b: { type: "integer", enum: [1, 2] } },
            required: ["a"],
          },
        },
        { name: "get_sum", inputSchema: { type: "object" }, outputSchema: { type: "object" } },
      ],
    });
    expect(plugins.map((plugin) => plugin.name)).toEqual(["my_server.get_sum", "my_server.get_sum_2"]);
    expect(pluginToPromptSignature(plugins[0]!)).toContain("def my_server.get_sum(a: float, b: int = None) -> str:");
    expect(pluginToPromptSignature(plugins[0]!)).toContain("b (optional): one of 1, 2");
    expect(pluginToPromptSignature(plugins[1]!)).toContain("-> dict:");
    expect(pluginToTool(plugins[0]!)).toMatchObject({ name: "my_server__get_sum", parameters: { required: ["a"] } });
    expect(pluginToLoadSpec(plugins[1]!)).toBe(load);
    expect(load).toMatchObject({
      name: "my_server",
      config: { server: "my-server", tools: { get_sum: { name: "get-sum" }, get_sum_2: { name: "get_sum" } } },
    });
  });
});
