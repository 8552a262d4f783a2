import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import type { JupyterMessage, KernelChannel } from "../internal/protocol/messages.js";
import { connectKernelWebSocket, kernelChannelsUrl } from "./kernel-websocket.js";

/** A stand-in for a Jupyter server's channels endpoint: real HTTP upgrade, real frames. */
interface FakeChannelsServer {
  baseUrl: URL;
  sockets: WebSocket[];
  requests: IncomingMessage[];
  received: unknown[];
  pongs: number;
  /** When set, handshakes are refused with this HTTP status. */
  refuseWith: number | undefined;
  close(): Promise<void>;
}

async function startFakeChannelsServer(options: { status?: number } = {}): Promise<FakeChannelsServer> {
  const http: Server = createServer();
  const wss = new WebSocketServer({ noServer: true });
  const state: FakeChannelsServer = {
    baseUrl: new URL("http://127.0.0.1/"),
    sockets: [],
    requests: [],
    received: [],
    pongs: 0,
    refuseWith: options.status,
    close: async () => {
      for (const socket of state.sockets) socket.terminate();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
  http.on("upgrade", (request, socket, head) => {
    state.requests.push(request);
    if (state.refuseWith !== undefined) {
      socket.end(`HTTP/1.1 ${state.refuseWith} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(request, socket, head, (client) => {
      state.sockets.push(client);
      client.on("message", (data) => state.received.push(JSON.parse(String(data))));
      client.on("pong", () => (state.pongs += 1));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  state.baseUrl = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/`);
  return state;
}

function wireMessage(
  channel: KernelChannel,
  type: string,
  content: Record<string, unknown>,
  parentId?: string,
) {
  return JSON.stringify({
    channel,
    header: {
      msg_id: `m-${Math.random()}`,
      msg_type: type,
      session: "k",
      username: "kernel",
      date: "",
      version: "5.3",
    },
    parent_header: parentId ? { msg_id: parentId } : {},
    metadata: {},
    content,
  });
}

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let server: FakeChannelsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("connectKernelWebSocket", () => {
  it("derives ws:// and wss:// channel URLs from the base URL, keeping a base path", () => {
    expect(kernelChannelsUrl(new URL("http://h:8888/"), "k1", "s1").href).toBe(
      "ws://h:8888/api/kernels/k1/channels?session_id=s1",
    );
    expect(kernelChannelsUrl(new URL("https://h/user/me/"), "k 1", "s").href).toBe(
      "wss://h/user/me/api/kernels/k%201/channels?session_id=s",
    );
  });

  it("sends the token header and JSON messages with their channel, and delivers replies by channel", async () => {
    server = await startFakeChannelsServer();
    const transport = await connectKernelWebSocket({
      baseUrl: server.baseUrl,
      token: "secret",
      kernelId: "k1",
      sessionId: "s1",
    });
    const seen: { channel: KernelChannel; message: JupyterMessage }[] = [];
    transport.setReceiver({
      onMessage: (channel, message) => seen.push({ channel, message }),
      onError: () => undefined,
    });
    expect(server.requests[0]?.headers.authorization).toBe("token secret");
    expect(server.requests[0]?.url).toBe("/api/kernels/k1/channels?session_id=s1");

    transport.send("shell", {
      header: {
        msg_id: "r1",
        msg_type: "execute_request",
        session: "s1",
        username: "u",
        date: "",
        version: "5.3",
      },
      parent_header: {},
      metadata: { a: 1 },
      content: { code: "1+1" },
    });
    await waitFor(() => server!.received.length === 1);
    expect(server.received[0]).toMatchObject({
      channel: "shell",
      header: { msg_id: "r1" },
      content: { code: "1+1" },
    });

    server.sockets[0]!.send(wireMessage("iopub", "stream", { name: "stdout", text: "hi" }, "r1"));
    server.sockets[0]!.send(wireMessage("shell", "execute_reply", { status: "ok" }, "r1"));
    await waitFor(() => seen.length === 2);
    expect(seen.map((entry) => [entry.channel, entry.message.header.msg_type])).toEqual([
      ["iopub", "stream"],
      ["shell", "execute_reply"],
    ]);
    transport.close();
  });

  it("acknowledges bursts of incoming frames with prompt pongs, and not when asked not to", async () => {
    server = await startFakeChannelsServer();
    const transport = await connectKernelWebSocket({
      baseUrl: server.baseUrl,
      token: undefined,
      kernelId: "k",
      sessionId: "s",
    });
    transport.setReceiver({ onMessage: () => undefined, onError: () => undefined });
    server.sockets[0]!.send(wireMessage("iopub", "status", { execution_state: "busy" }));
    await waitFor(() => server!.pongs >= 1);
    transport.close();

    const quiet = await connectKernelWebSocket({
      baseUrl: server.baseUrl,
      token: undefined,
      kernelId: "k",
      sessionId: "s2",
      promptAcknowledge: false,
    });
    let delivered = 0;
    quiet.setReceiver({ onMessage: () => (delivered += 1), onError: () => undefined });
    const before = server.pongs;
    server.sockets[1]!.send(wireMessage("iopub", "status", { execution_state: "busy" }));
    await waitFor(() => delivered === 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.pongs).toBe(before);
    quiet.close();
  });

  it("keeps messages that arrive before the receiver is installed", async () => {
    server = await startFakeChannelsServer();
    const transport = await connectKernelWebSocket({
      baseUrl: server.baseUrl,
      token: undefined,
      kernelId: "k",
      sessionId: "s",
    });
    server.sockets[0]!.send(wireMessage("iopub", "status", { execution_state: "starting" }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const seen: string[] = [];
    transport.setReceiver({
      onMessage: (_channel, message) => seen.push(message.header.msg_type),
      onError: () => undefined,
    });
    expect(seen).toEqual(["status"]);
    transport.close();
  });

  it.each([
    ["dead", /gave up restarting/],
    ["restarting", /kernel process on the server died/],
  ])("reports the server's %s status as a closed transport", async (state, reason) => {
    server = await startFakeChannelsServer();
    const transport = await connectKernelWebSocket({
      baseUrl: server.baseUrl,
      token: undefined,
      kernelId: "k",
      sessionId: "s",
    });
    const closes: string[] = [];
    transport.setReceiver({
      onMessage: () => undefined,
      onError: () => undefined,
      onClose: (why) => closes.push(why),
    });
    server.sockets[0]!.send(wireMessage("iopub", "status", { execution_state: state }));
    await waitFor(() => closes.length === 1);
    expect(closes[0]).toMatch(reason);
    expect(transport.closed).toBe(true);
  });

  it("reports a socket closed by the server when reconnection is off, and malformed frames as errors without closing", async () => {
    server = await startFakeChannelsServer();
    const transport = await connectKernelWebSocket({
      baseUrl: server.baseUrl,
      token: undefined,
      kernelId: "k",
      sessionId: "s",
      reconnectDelaysMs: [],
    });
    const errors: string[] = [];
    const closes: string[] = [];
    transport.setReceiver({
      onMessage: () => undefined,
      onError: (error) => errors.push(error.message),
      onClose: (why) => closes.push(why),
    });
    server.sockets[0]!.send("not json");
    server.sockets[0]!.send(JSON.stringify({ channel: "shell", header: {} }));
    await waitFor(() => errors.length === 2);
    expect(transport.closed).toBe(false);
    server.sockets[0]!.close(1011, "server going away");
    await waitFor(() => closes.length === 1);
    expect(closes[0]).toMatch(/closed \(code 1011, server going away\)/);
  });

  it("reopens a dropped socket with the same session, delivering what was sent meanwhile", async () => {
    server = await startFakeChannelsServer();
    const transport = await connectKernelWebSocket({
      baseUrl: server.baseUrl,
      token: "t",
      kernelId: "k",
      sessionId: "same-session",
      reconnectDelaysMs: [300, 300],
    });
    const seen: string[] = [];
    const closes: string[] = [];
    transport.setReceiver({
      onMessage: (_channel, message) => seen.push(message.header.msg_type),
      onError: () => undefined,
      onClose: (why) => closes.push(why),
    });
    server.sockets[0]!.terminate();
    // Give the client time to notice the drop (it then waits 300 ms before reconnecting).
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Sent while the socket is down: must arrive on the new one.
    transport.send("shell", {
      header: {
        msg_id: "during",
        msg_type: "kernel_info_request",
        session: "s",
        username: "u",
        date: "",
        version: "5.3",
      },
      parent_header: {},
      metadata: {},
      content: {},
    });
    await waitFor(() => server!.sockets.length === 2 && server!.received.length === 1);
    expect(server.requests[1]?.url).toBe("/api/kernels/k/channels?session_id=same-session");
    expect(server.requests[1]?.headers.authorization).toBe("token t");
    expect(server.received[0]).toMatchObject({ header: { msg_id: "during" } });
    server.sockets[1]!.send(wireMessage("shell", "kernel_info_reply", { status: "ok" }, "during"));
    await waitFor(() => seen.length === 1);
    expect(seen).toEqual(["kernel_info_reply"]);
    expect(closes).toEqual([]);
    expect(transport.closed).toBe(false);
    transport.close();
  });

  it("gives up reconnecting when the server no longer has the kernel", async () => {
    server = await startFakeChannelsServer();
    const transport = await connectKernelWebSocket({
      baseUrl: server.baseUrl,
      token: undefined,
      kernelId: "k",
      sessionId: "s",
      reconnectDelaysMs: [20, 20, 20],
    });
    const closes: string[] = [];
    transport.setReceiver({
      onMessage: () => undefined,
      onError: () => undefined,
      onClose: (why) => closes.push(why),
    });
    server.refuseWith = 404;
    server.sockets[0]!.close(1001, "kernel shut down");
    await waitFor(() => closes.length === 1);
    expect(closes[0]).toMatch(
      /closed \(code 1001, kernel shut down\), and reconnecting failed: .*no longer exists/,
    );
    // A 404 is final: one attempt, not three.
    expect(server.requests).toHaveLength(2);
  });

  it("turns a refused handshake into a token error, and a missing kernel into a kernel death", async () => {
    server = await startFakeChannelsServer({ status: 403 });
    await expect(
      connectKernelWebSocket({ baseUrl: server.baseUrl, token: "bad", kernelId: "k", sessionId: "s" }),
    ).rejects.toMatchObject({
      code: "executor_unavailable",
      message: expect.stringMatching(/HTTP 403.*JUPYTER_TOKEN/),
    });
    await server.close();
    server = await startFakeChannelsServer({ status: 404 });
    await expect(
      connectKernelWebSocket({ baseUrl: server.baseUrl, token: "t", kernelId: "gone", sessionId: "s" }),
    ).rejects.toMatchObject({
      code: "kernel_died",
    });
  });

  it("says the server is not running when nothing listens", async () => {
    server = await startFakeChannelsServer();
    const url = server.baseUrl;
    await server.close();
    server = undefined;
    await expect(
      connectKernelWebSocket({ baseUrl: url, token: undefined, kernelId: "k", sessionId: "s" }),
    ).rejects.toMatchObject({
      code: "executor_unavailable",
      message: expect.stringMatching(/connection refused/),
    });
  });
});
