import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExecutorUnavailableError } from "@taskweaver/core";
import { afterEach, describe, expect, it } from "vitest";
import { checkDockerReady } from "./kernel-container.js";
import {
  createDockerEngineClient,
  demultiplexLogs,
  DockerApiError,
  resolveDockerEndpoint,
} from "./engine-client.js";

/** dockerode's docker-modem, as far as these tests read it. */
interface Modem {
  socketPath?: unknown;
  host?: string;
  port?: number | string;
  protocol?: string;
  username?: string;
  ca?: unknown;
  cert?: unknown;
  key?: unknown;
  sshOptions?: { agent?: string };
}

describe("resolveDockerEndpoint", () => {
  it("prefers the explicit address, then DOCKER_HOST, then the standard socket", () => {
    expect(resolveDockerEndpoint("unix:///a.sock", { DOCKER_HOST: "unix:///b.sock" })).toMatchObject({
      kind: "unix",
      socketPath: "/a.sock",
    });
    expect(resolveDockerEndpoint(undefined, { DOCKER_HOST: "unix:///b.sock" })).toMatchObject({ socketPath: "/b.sock" });
    expect(resolveDockerEndpoint(undefined, {})).toMatchObject({ socketPath: "/var/run/docker.sock" });
    expect(resolveDockerEndpoint("tcp://127.0.0.1:2375", {})).toMatchObject({ kind: "tcp", host: "127.0.0.1", port: 2375 });
  });

  it("refuses addresses it cannot speak to, saying how to switch to the local runtime", () => {
    expect(() => resolveDockerEndpoint("npipe:////./pipe/docker_engine", {})).toThrow(ExecutorUnavailableError);
    expect(() => resolveDockerEndpoint("ftp://host", {})).toThrow(/EXECUTION_SERVICE_KERNEL_MODE=local/);
  });
});

describe("the connection options handed to dockerode", () => {
  const folders: string[] = [];
  afterEach(() => {
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

  /** A DOCKER_CERT_PATH folder; the contents only need to arrive, no TLS engine reads them. */
  function certificateFolder(): string {
    const folder = mkdtempSync(join(tmpdir(), "tw-docker-certs-"));
    folders.push(folder);
    for (const name of ["ca", "cert", "key"]) writeFileSync(join(folder, `${name}.pem`), `${name} of ${folder}\n`);
    return folder;
  }

  function modemOf(options: { host?: string; env: Record<string, string | undefined> }): Modem {
    return createDockerEngineClient(options).docker.modem as Modem;
  }

  it("speaks TLS to a tcp:// DOCKER_HOST with DOCKER_TLS_VERIFY, with the certificates of DOCKER_CERT_PATH", () => {
    const folder = certificateFolder();
    const modem = modemOf({
      env: { DOCKER_HOST: "tcp://docker.example:2376", DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: folder },
    });
    expect(modem).toMatchObject({ host: "docker.example", port: 2376, protocol: "https" });
    expect(modem.socketPath).toBeUndefined();
    expect(String(modem.ca)).toBe(`ca of ${folder}\n`);
    expect(String(modem.cert)).toBe(`cert of ${folder}\n`);
    expect(String(modem.key)).toBe(`key of ${folder}\n`);
  });

  it("applies the TLS variables to an explicit address too, defaulting to port 2376 and ~/.docker", () => {
    const home = mkdtempSync(join(tmpdir(), "tw-docker-home-"));
    folders.push(home);
    mkdirSync(join(home, ".docker"));
    for (const name of ["ca", "cert", "key"]) writeFileSync(join(home, ".docker", `${name}.pem`), `${name} at home`);
    const modem = modemOf({ host: "tcp://10.0.0.5", env: { DOCKER_TLS_VERIFY: "1", HOME: home } });
    expect(modem).toMatchObject({ host: "10.0.0.5", port: 2376, protocol: "https" });
    expect(String(modem.key)).toBe("key at home");
  });

  it("speaks plain HTTP to tcp:// without DOCKER_TLS_VERIFY", () => {
    const modem = modemOf({ env: { DOCKER_HOST: "tcp://127.0.0.1:2375" } });
    expect(modem).toMatchObject({ host: "127.0.0.1", port: 2375, protocol: "http" });
    expect(modem.ca).toBeUndefined();
  });

  it("says which certificate is missing when DOCKER_CERT_PATH lacks one", () => {
    const folder = mkdtempSync(join(tmpdir(), "tw-docker-certs-"));
    folders.push(folder);
    const create = () =>
      createDockerEngineClient({ env: { DOCKER_HOST: "tcp://h:2376", DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: folder } });
    expect(create).toThrow(ExecutorUnavailableError);
    expect(create).toThrow(join(folder, "ca.pem"));
  });

  it("connects to ssh:// hosts through the ssh agent, as the Docker CLI does", () => {
    const modem = modemOf({ env: { DOCKER_HOST: "ssh://deploy@build.example:2222", SSH_AUTH_SOCK: "/run/agent.sock" } });
    expect(modem).toMatchObject({ host: "build.example", port: 2222, protocol: "ssh", username: "deploy" });
    expect(modem.sshOptions?.agent).toBe("/run/agent.sock");
  });

  it("keeps an explicit unix socket even when this process's DOCKER_HOST names a tcp:// engine", () => {
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = "tcp://elsewhere.example:2375";
    try {
      const modem = modemOf({ host: "unix:///run/user/docker.sock", env: {} });
      expect(modem.socketPath).toBe("/run/user/docker.sock");
      expect(modem.host).toBeUndefined();
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
  });
});

describe("DockerEngineClient", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  function temporaryDirectory(): string {
    const directory = mkdtempSync(join(tmpdir(), "tw-engine-"));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    return directory;
  }

  /** A real HTTP server on a unix socket, answering like a (tiny) Docker engine. */
  async function fakeEngine(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<string> {
    const socketPath = join(temporaryDirectory(), "engine.sock");
    const server: Server = createServer(handler);
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    cleanups.push(() => server.close());
    return socketPath;
  }

  it("says Docker is not running when the socket does not exist", async () => {
    const client = createDockerEngineClient({ host: `unix://${temporaryDirectory()}/docker.sock` });
    const error = await client.ping().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ExecutorUnavailableError);
    expect((error as Error).message).toMatch(/^Docker is not running: there is no Docker socket at unix:\/\//);
  });

  it("says the path is not Docker when it is a plain file", async () => {
    const path = join(temporaryDirectory(), "docker.sock");
    writeFileSync(path, "");
    const error = await createDockerEngineClient({ host: `unix://${path}` }).ping().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ExecutorUnavailableError);
    expect((error as Error).message).toContain(path);
  });

  it("turns a missing engine into one error that names the runtime and the way back to local", async () => {
    const client = createDockerEngineClient({ host: `unix://${temporaryDirectory()}/docker.sock` });
    const error = await checkDockerReady(client, "taskweaver-executor:latest").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ExecutorUnavailableError);
    expect((error as Error).message).toContain('execution_service.kernel_mode = "container"');
    expect((error as Error).message).toContain("EXECUTION_SERVICE_KERNEL_MODE=local");
  });

  it("explains a missing image with the command that builds it", async () => {
    const socketPath = await fakeEngine((request, response) => {
      if (request.url === "/_ping") response.end("OK");
      else if (request.url?.startsWith("/containers/json")) response.end("[]");
      else {
        response.statusCode = 404;
        response.end(JSON.stringify({ message: "No such image" }));
      }
    });
    const client = createDockerEngineClient({ host: `unix://${socketPath}` });
    await expect(checkDockerReady(client, "missing:1")).rejects.toThrow(/"missing:1" is not in the Docker engine.*build-image\.sh/s);
  });

  it("passes label filters to the engine and reports API errors with the engine's message", async () => {
    const seen: string[] = [];
    const socketPath = await fakeEngine((request, response) => {
      seen.push(`${request.method} ${decodeURIComponent(request.url ?? "")}`);
      if (request.url?.startsWith("/containers/json")) {
        response.end(JSON.stringify([{ Id: "abc", Names: ["/x"], Labels: { "io.taskweaver.managed": "true" } }]));
      } else {
        response.statusCode = 500;
        response.end(JSON.stringify({ message: "engine exploded" }));
      }
    });
    const client = createDockerEngineClient({ host: `unix://${socketPath}` });
    const containers = await client.listContainers(["io.taskweaver.managed=true"]);
    expect(containers.map((container) => container.Id)).toEqual(["abc"]);
    expect(seen[0]).toContain('filters={"label":["io.taskweaver.managed=true"]}');
    const error = await client.startContainer("abc").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DockerApiError);
    expect(DockerApiError.isInstance(error)).toBe(true);
    expect(DockerApiError.isInstance(new ExecutorUnavailableError("not an API error"))).toBe(false);
    expect((error as DockerApiError).status).toBe(500);
    expect((error as Error).message).toContain("engine exploded");
  });
});

describe("demultiplexLogs", () => {
  it("joins the payloads of Docker's framed log stream", () => {
    const frame = (stream: number, text: string) => {
      const payload = Buffer.from(text);
      const header = Buffer.alloc(8);
      header[0] = stream;
      header.writeUInt32BE(payload.length, 4);
      return Buffer.concat([header, payload]);
    };
    expect(demultiplexLogs(Buffer.concat([frame(1, "out\n"), frame(2, "err\n")]))).toBe("out\nerr\n");
    expect(demultiplexLogs(Buffer.from("plain text log"))).toBe("plain text log");
  });
});
