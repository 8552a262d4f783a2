import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ExecutorUnavailableError } from "@taskweaver/core";
import { createJupyterRestClient, encodeContentsPath, JupyterHttpError } from "./jupyter-rest-client.js";

/** A real HTTP server answering with whatever the test scripts, recording what it got. */
async function startServer(
  handler: (request: IncomingMessage, response: ServerResponse, body: string) => void,
): Promise<{
  url: URL;
  requests: { method: string; url: string; headers: IncomingMessage["headers"]; body: string }[];
  close(): Promise<void>;
}> {
  const requests: { method: string; url: string; headers: IncomingMessage["headers"]; body: string }[] = [];
  const server: Server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
    request.on("end", () => {
      requests.push({ method: request.method ?? "", url: request.url ?? "", headers: request.headers, body });
      handler(request, response, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/base/`),
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function json(response: ServerResponse, status: number, value: unknown): void {
  response.writeHead(status, { "Content-Type": "application/json" });
  response.end(JSON.stringify(value));
}

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

describe("createJupyterRestClient", () => {
  it("encodes each path segment on its own", () => {
    expect(encodeContentsPath("taskweaver/a b/ü.csv")).toBe("taskweaver/a%20b/%C3%BC.csv");
    expect(encodeContentsPath("/a//b/")).toBe("a/b");
  });

  it("sends the token header under the base path and posts the kernel name and path", async () => {
    const server = await startServer((request, response) => {
      if (request.method === "POST")
        json(response, 201, { id: "k1", name: "python3", execution_state: "starting" });
      else json(response, 200, []);
    });
    close = server.close;
    const client = createJupyterRestClient({ baseUrl: server.url, token: "t0k" });
    expect(await client.listKernels()).toEqual([]);
    const kernel = await client.startKernel({ name: "python3", path: "taskweaver/s1" });
    expect(kernel.id).toBe("k1");
    expect(server.requests.map((request) => `${request.method} ${request.url}`)).toEqual([
      "GET /base/api/kernels",
      "POST /base/api/kernels",
    ]);
    expect(server.requests[0]!.headers.authorization).toBe("token t0k");
    expect(JSON.parse(server.requests[1]!.body)).toEqual({ name: "python3", path: "taskweaver/s1" });
  });

  it("explains a URL that points at some other web server", async () => {
    const server = await startServer((_request, response) => {
      response.writeHead(200, { "Content-Type": "text/html" });
      response.end("<html>a login page</html>");
    });
    close = server.close;
    const client = createJupyterRestClient({ baseUrl: server.url, token: undefined });
    await expect(client.listKernels()).rejects.toMatchObject({
      code: "executor_unavailable",
      message: expect.stringMatching(/not JSON.*base URL/),
    });
  });

  it("names the kernel spec listing when the server refuses the kernel name", async () => {
    const server = await startServer((_request, response) =>
      json(response, 404, { message: "No such kernel named nope" }),
    );
    close = server.close;
    const client = createJupyterRestClient({ baseUrl: server.url, token: "t" });
    await expect(client.startKernel({ name: "nope" })).rejects.toMatchObject({
      code: "executor_unavailable",
      message: expect.stringMatching(/No such kernel named nope.*kernel_name.*kernelspecs/s),
    });
  });

  it("reports a kernel the server no longer has as a dead kernel, and treats deleting it as done", async () => {
    const server = await startServer((_request, response) =>
      json(response, 404, { message: "Kernel does not exist" }),
    );
    close = server.close;
    const client = createJupyterRestClient({ baseUrl: server.url, token: "t" });
    await expect(client.interruptKernel("gone")).rejects.toMatchObject({ code: "kernel_died" });
    await expect(client.restartKernel("gone")).rejects.toMatchObject({ code: "kernel_died" });
    await expect(client.deleteKernel("gone")).resolves.toBeUndefined();
    expect(await client.getKernel("gone")).toBeUndefined();
    expect(await client.getContents("taskweaver/missing.txt")).toBeUndefined();
    expect(await client.hasContentsApi()).toBe(false);
  });

  it("gives up on a server that does not answer within the request timeout", async () => {
    const server = await startServer(() => undefined);
    close = server.close;
    const client = createJupyterRestClient({ baseUrl: server.url, token: "t", requestTimeoutMs: 300 });
    await expect(client.listKernels()).rejects.toMatchObject({
      code: "executor_unavailable",
      message: expect.stringMatching(/did not answer GET \/base\/api\/kernels within/),
    });
  });

  it("turns an aborted call into AbortedError", async () => {
    const server = await startServer(() => undefined);
    close = server.close;
    const client = createJupyterRestClient({ baseUrl: server.url, token: "t" });
    const controller = new AbortController();
    const pending = client.listKernels(controller.signal);
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toMatchObject({ code: "aborted" });
  });
});

describe("JupyterHttpError", () => {
  it("is told apart from other TaskWeaver errors by its own isInstance", () => {
    expect(JupyterHttpError.isInstance(new JupyterHttpError(404, "missing"))).toBe(true);
    expect(JupyterHttpError.isInstance(new ExecutorUnavailableError("unreachable"))).toBe(false);
  });
});
