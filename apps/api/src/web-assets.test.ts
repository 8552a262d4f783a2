import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createWebAssets } from "./web-assets.js";

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function build(): string {
  const folder = mkdtempSync(join(tmpdir(), "tw-web-"));
  folders.push(folder);
  mkdirSync(join(folder, "assets"));
  writeFileSync(join(folder, "index.html"), "<!doctype html><title>TaskWeaver</title>");
  writeFileSync(join(folder, "assets", "index-abc.js"), "console.log(1)");
  return folder;
}

describe("createWebAssets", () => {
  it("serves the page at / with a content security policy, and its hashed assets cached for good", async () => {
    const assets = createWebAssets({ directory: build() });
    const page = await assets.request("/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("cache-control")).toBe("no-cache");
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(await page.text()).toContain("<title>TaskWeaver</title>");
    const script = await assets.request("/assets/index-abc.js");
    expect(script.headers.get("content-type")).toContain("javascript");
    expect(script.headers.get("cache-control")).toContain("immutable");
    expect((await assets.request("/assets/missing.js")).status).toBe(404);
    expect((await assets.request("/assets/../index.html")).status).toBe(404);
  });

  it("says how to build the playground when it is not built", async () => {
    const folder = mkdtempSync(join(tmpdir(), "tw-web-empty-"));
    folders.push(folder);
    const page = await createWebAssets({ directory: folder }).request("/");
    expect(page.status).toBe(200);
    const text = await page.text();
    expect(text).toContain("The web playground is not built");
    expect(text).toContain("/api/v1/docs");
  });
});
