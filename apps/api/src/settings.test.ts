import { loadConfig } from "@taskweaver/core";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startApiServer } from "./server.js";
import { databaseUrlFrom, instanceIdFrom } from "./settings.js";
import { StoreUnavailableError } from "./store/store-errors.js";
import { createFakeSessionHost } from "./testing/fake-session-host.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function configWith(env: Record<string, string>, overrides: Record<string, unknown> = {}) {
  const appDir = mkdtempSync(join(tmpdir(), "tw-api-settings-"));
  directories.push(appDir);
  writeFileSync(join(appDir, "taskweaver_config.json"), "{}");
  return loadConfig({ appDir, env, overrides });
}

describe("store selection", () => {
  it("takes api.database_url (API_DATABASE_URL) first, then DATABASE_URL, else none (SQLite)", () => {
    expect(databaseUrlFrom(configWith({}), {})).toBeUndefined();
    expect(databaseUrlFrom(configWith({}), { DATABASE_URL: "postgres://conventional/db" })).toBe(
      "postgres://conventional/db",
    );
    const env = { API_DATABASE_URL: "postgres://api/db", DATABASE_URL: "postgres://conventional/db" };
    expect(databaseUrlFrom(configWith(env), env)).toBe("postgres://api/db");
    expect(
      databaseUrlFrom(configWith({}, { "api.database_url": "  " }), { DATABASE_URL: "postgres://c/db" }),
    ).toBe("postgres://c/db");
  });

  it("names each instance: api.instance_id, else a unique default", () => {
    expect(instanceIdFrom(configWith({}, { "api.instance_id": "pod-1" }))).toBe("pod-1");
    const first = instanceIdFrom(configWith({}));
    expect(first).toMatch(new RegExp(`-${process.pid}-[0-9a-f]{8}$`));
    expect(instanceIdFrom(configWith({}))).not.toBe(first);
  });

  it("refuses to start when the database does not answer, naming the URL without its password", async () => {
    const host = createFakeSessionHost({
      "api.database_url": "postgres://tw:very-secret@127.0.0.1:1/taskweaver",
    });
    try {
      const error = await startApiServer({ taskWeaver: host, port: 0, env: {}, logRequest: () => {} }).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(StoreUnavailableError.isInstance(error)).toBe(true);
      const message = (error as Error).message;
      expect(message).toContain("127.0.0.1:1/taskweaver");
      expect(message).not.toContain("very-secret");
    } finally {
      host.remove();
    }
  });
});
