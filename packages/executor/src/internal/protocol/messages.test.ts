import { describe, expect, test } from "vitest";
import { channelEndpoint, ConnectionInfoSchema, parseKernelOutput, type JupyterMessage } from "./messages.js";

function iopub(msgType: string, content: Record<string, unknown>): JupyterMessage {
  return {
    header: { msg_id: "m", msg_type: msgType, session: "s", username: "u", date: "", version: "5.3" },
    parent_header: { msg_id: "p" },
    metadata: {},
    content,
  };
}

describe("kernel output parsing", () => {
  test("parses streams, displays, results and errors", () => {
    expect(parseKernelOutput(iopub("stream", { name: "stdout", text: "hi\n" }))).toEqual({
      type: "stream",
      content: { name: "stdout", text: "hi\n" },
    });
    expect(
      parseKernelOutput(
        iopub("execute_result", { data: { "text/plain": "2" }, metadata: {}, execution_count: 3 }),
      ),
    ).toMatchObject({
      type: "execute_result",
      content: { data: { "text/plain": "2" } },
    });
    expect(parseKernelOutput(iopub("update_display_data", { data: { "text/html": "<b>" } }))?.type).toBe(
      "display_data",
    );
    expect(parseKernelOutput(iopub("error", { ename: "E", evalue: "v", traceback: ["a", "b"] }))).toEqual({
      type: "error",
      content: { ename: "E", evalue: "v", traceback: ["a", "b"] },
    });
  });

  test("ignores messages that carry no output and malformed content", () => {
    expect(parseKernelOutput(iopub("status", { execution_state: "idle" }))).toBeUndefined();
    expect(parseKernelOutput(iopub("execute_input", { code: "1" }))).toBeUndefined();
    expect(parseKernelOutput(iopub("stream", { name: "other", text: 1 }))).toBeUndefined();
  });
});

describe("connection info", () => {
  const info = ConnectionInfoSchema.parse({
    ip: "127.0.0.1",
    shell_port: 1001,
    iopub_port: 1002,
    stdin_port: 1003,
    control_port: 1004,
    hb_port: 1005,
    key: "k",
  });

  test("defaults to tcp and hmac-sha256 like a Jupyter connection file", () => {
    expect(info.transport).toBe("tcp");
    expect(info.signature_scheme).toBe("hmac-sha256");
  });

  test("builds tcp and ipc endpoints the way Jupyter does", () => {
    expect(channelEndpoint(info, "shell")).toBe("tcp://127.0.0.1:1001");
    expect(channelEndpoint({ ...info, transport: "ipc", ip: "/tmp/k" }, "hb")).toBe("ipc:///tmp/k-1005");
  });
});
