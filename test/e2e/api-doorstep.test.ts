// What a new client trips over first, over real HTTP: a body of the wrong media type, and a
// method a path does not take.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiServer } from "@taskweaver/api";
import { createTestAppDir, startTestApiServer, type TestAppDir } from "../src/index.js";

let dir: TestAppDir;
let server: ApiServer;
let base: string;

beforeAll(async () => {
  dir = createTestAppDir({
    config: { "llm.api_base": "http://127.0.0.1:9/v1", "llm.api_key": "unused", "llm.model": "unused" },
  });
  server = await startTestApiServer(dir.path);
  base = `${server.url}/api/v1`;
}, 60_000);

afterAll(async () => {
  await server?.close(2_000);
  dir?.remove();
});

async function errorOf(response: Response, status: number, code: string): Promise<string> {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toContain("application/json");
  const body = (await response.json()) as { error: { code: string; message: string; request_id: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.request_id).toBe(response.headers.get("x-request-id"));
  return body.error.message;
}

describe("the API's doorstep", () => {
  it("answers a body of the wrong media type with 415 unsupported_media_type naming the expected type", async () => {
    const created = await fetch(`${base}/sessions`, { method: "POST" });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };

    const asText = await fetch(`${base}/sessions/${id}/messages`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "count the rows",
    });
    expect(await errorOf(asText, 415, "unsupported_media_type")).toContain("application/json");

    const asForm = await fetch(`${base}/sessions`, { method: "POST", body: new URLSearchParams({ a: "b" }) });
    expect(await errorOf(asForm, 415, "unsupported_media_type")).toContain("application/json");

    const uploadAsJson = await fetch(`${base}/sessions/${id}/files`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ file: "data.csv" }),
    });
    expect(await errorOf(uploadAsJson, 415, "unsupported_media_type")).toContain("multipart/form-data");

    // Nothing was started or stored by the refused requests.
    const detail = (await (await fetch(`${base}/sessions/${id}`)).json()) as { rounds: unknown[] };
    expect(detail.rounds).toEqual([]);
  });

  it("answers a method a path does not take with 405 and an Allow header, not 404", async () => {
    const created = (await (await fetch(`${base}/sessions`, { method: "POST" })).json()) as { id: string };

    const put = await fetch(`${base}/sessions`, { method: "PUT" });
    expect(await errorOf(put, 405, "method_not_allowed")).toContain("PUT");
    expect(put.headers.get("allow")).toBe("POST, GET, HEAD");

    const getMessages = await fetch(`${base}/sessions/${created.id}/messages`);
    await errorOf(getMessages, 405, "method_not_allowed");
    expect(getMessages.headers.get("allow")).toBe("POST");

    const patchFile = await fetch(`${base}/sessions/${created.id}/files/sub/result.csv`, { method: "PATCH" });
    await errorOf(patchFile, 405, "method_not_allowed");
    expect(patchFile.headers.get("allow")).toBe("GET, HEAD");

    const session = await fetch(`${base}/sessions/${created.id}`, { method: "POST" });
    await errorOf(session, 405, "method_not_allowed");
    expect(session.headers.get("allow")?.split(", ").sort()).toEqual(["DELETE", "GET", "HEAD"]);

    // A path that does not exist at all is still 404.
    await errorOf(await fetch(`${base}/nothing-here`, { method: "PUT" }), 404, "not_found");
  });
});
