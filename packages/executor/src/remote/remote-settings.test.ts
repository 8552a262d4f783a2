import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig } from "@taskweaver/core";
import { afterAll, describe, expect, it } from "vitest";
import { normalizeRemoteFileName } from "./remote-files.js";
import { normalizeServerDirectory, resolveRemoteSettings } from "./remote-settings.js";

const appDir = mkdtempSync(join(tmpdir(), "tw-remote-settings-"));
afterAll(() => rmSync(appDir, { recursive: true, force: true }));

function config(overrides: Record<string, unknown>, env: Record<string, string | undefined> = {}) {
  return loadConfig({ appDir, env, overrides: { "execution_service.kernel_mode": "remote", ...overrides } });
}

describe("resolveRemoteSettings", () => {
  it("refuses remote mode without a URL, naming the key to set", () => {
    expect(() => resolveRemoteSettings(config({}), "s1", {})).toThrow(ConfigError);
    expect(() => resolveRemoteSettings(config({}), "s1", {})).toThrow(/execution_service\.remote\.url/);
  });

  it("refuses URLs that are not http or https", () => {
    expect(() =>
      resolveRemoteSettings(config({ "execution_service.remote.url": "ftp://host/" }), "s1", {}),
    ).toThrow(/http:\/\/ or https:\/\//);
    expect(() =>
      resolveRemoteSettings(config({ "execution_service.remote.url": "not a url" }), "s1", {}),
    ).toThrow(/not a valid URL/);
  });

  it("refuses credentials in the URL and points at the token settings", () => {
    expect(() =>
      resolveRemoteSettings(config({ "execution_service.remote.url": "http://me:secret@h:1/" }), "s", {}),
    ).toThrow(/user name or password.*JUPYTER_TOKEN/);
  });

  it("defaults to a per-session folder, the python3 kernel and the configured timeouts", () => {
    const settings = resolveRemoteSettings(
      config({
        "execution_service.remote.url": "http://127.0.0.1:8888",
        "execution_service.execution_timeout": 7,
      }),
      "20240101-abc",
      {},
    );
    expect(settings.baseUrl.href).toBe("http://127.0.0.1:8888/");
    expect(settings.workingDirectory).toBe("taskweaver/20240101-abc");
    expect(settings.kernelName).toBe("python3");
    expect(settings.executionTimeoutMs).toBe(7000);
    expect(settings.startTimeoutMs).toBe(60_000);
    expect(settings.token).toBeUndefined();
  });

  it("keeps a base path and adds the trailing slash the API paths are resolved against", () => {
    const settings = resolveRemoteSettings(
      config({ "execution_service.remote.url": "https://hub.example/user/me" }),
      "s",
      {},
    );
    expect(settings.baseUrl.href).toBe("https://hub.example/user/me/");
  });

  it("takes the token from the config first, then the URL, then JUPYTER_TOKEN", () => {
    const url = "http://127.0.0.1:8888/?token=from-url";
    expect(
      resolveRemoteSettings(
        config({ "execution_service.remote.url": url, "execution_service.remote.token": "from-config" }),
        "s",
        { JUPYTER_TOKEN: "from-env" },
      ).token,
    ).toBe("from-config");
    const fromUrl = resolveRemoteSettings(config({ "execution_service.remote.url": url }), "s", {
      JUPYTER_TOKEN: "from-env",
    });
    expect(fromUrl.token).toBe("from-url");
    expect(fromUrl.baseUrl.search).toBe("");
    expect(
      resolveRemoteSettings(config({ "execution_service.remote.url": "http://h:1/" }), "s", {
        JUPYTER_TOKEN: "from-env",
      }).token,
    ).toBe("from-env");
  });

  it("reads EXECUTION_SERVICE_REMOTE_TOKEN through the config's environment mapping", () => {
    const loaded = config(
      { "execution_service.remote.url": "http://h:1/" },
      { EXECUTION_SERVICE_REMOTE_TOKEN: "mapped" },
    );
    expect(resolveRemoteSettings(loaded, "s", { JUPYTER_TOKEN: "other" }).token).toBe("mapped");
  });

  it("uses a configured working directory, with ${SessionId} replaced, and cleans session ids for folder names", () => {
    const loaded = config({
      "execution_service.remote.url": "http://h:1/",
      "execution_service.remote.working_directory": "/work/${SessionId}/cwd/",
    });
    expect(resolveRemoteSettings(loaded, "a/b c", {}).workingDirectory).toBe("work/a_b_c/cwd");
    const plain = config({ "execution_service.remote.url": "http://h:1/" });
    expect(resolveRemoteSettings(plain, "../evil", {}).workingDirectory).toBe("taskweaver/__evil");
  });

  it("refuses a working directory above the server root", () => {
    expect(() => normalizeServerDirectory("../outside")).toThrow(ConfigError);
    expect(normalizeServerDirectory("a/./b/../c")).toBe("a/c");
    expect(normalizeServerDirectory("/")).toBe("");
  });
});

describe("normalizeRemoteFileName", () => {
  it("accepts relative names and returns them canonical", () => {
    expect(normalizeRemoteFileName("data.csv")).toBe("data.csv");
    expect(normalizeRemoteFileName("sub/./x/../data.csv")).toBe("sub/data.csv");
    expect(normalizeRemoteFileName("sub\\data.csv")).toBe("sub/data.csv");
  });

  it.each(["", ".", "..", "../secret", "a/../../secret", "/etc/passwd", "C:\\Windows", "..\\x", "a\0b"])(
    "refuses %j with path_outside_workdir",
    (name) => {
      expect(() => normalizeRemoteFileName(name)).toThrow(
        expect.objectContaining({ code: "path_outside_workdir" }),
      );
    },
  );
});
