import { ConfigError, loadConfig } from "@taskweaver/core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  DEFAULT_EXECUTOR_IMAGE,
  containerOptionsFromConfig,
  defaultContainerOptions,
  parseNumericUser,
  parseSize,
} from "./container-options.js";
import { dockerKernelStart } from "./docker-executor.js";
import { buildContainerSpec, channelAddress, resolveContainerUser } from "./kernel-container.js";

describe("parseSize", () => {
  it("reads Docker-style sizes in binary units", () => {
    expect(parseSize("1g")).toBe(1024 ** 3);
    expect(parseSize("512m")).toBe(512 * 1024 ** 2);
    expect(parseSize("1.5G")).toBe(1.5 * 1024 ** 3);
    expect(parseSize("2048")).toBe(2048);
  });

  it("rejects sizes it cannot read with a ConfigError naming the key", () => {
    expect(() => parseSize("lots", "execution_service.docker.memory")).toThrow(ConfigError);
    expect(() => parseSize("lots", "execution_service.docker.memory")).toThrow(/execution_service\.docker\.memory/);
    expect(() => parseSize("0m")).toThrow(ConfigError);
  });
});

describe("parseNumericUser", () => {
  it("reads uid and gid, defaulting the gid to the uid", () => {
    expect(parseNumericUser("10001:10002")).toEqual({ uid: 10001, gid: 10002 });
    expect(parseNumericUser("10001")).toEqual({ uid: 10001, gid: 10001 });
    expect(parseNumericUser("taskweaver")).toBeUndefined();
  });
});

describe("containerOptionsFromConfig", () => {
  it("uses the safe defaults when nothing is configured", () => {
    const config = loadConfig({ appDir: mkdtempSync(join(tmpdir(), "tw-docker-config-")), env: {} });
    const options = containerOptionsFromConfig(config);
    expect(options).toEqual(defaultContainerOptions());
    expect(options.image).toBe(DEFAULT_EXECUTOR_IMAGE);
  });

  it("has safe defaults for callers without a configuration: no network, limits, an unprivileged user, a read-only root", () => {
    expect(defaultContainerOptions()).toEqual({
      image: "taskweaver-executor:latest",
      networkMode: "none",
      memoryBytes: 1024 ** 3,
      cpus: 1,
      pidsLimit: 256,
      user: "10001:10001",
      readOnlyRoot: true,
      capDrop: ["ALL"],
      noNewPrivileges: true,
      tmpfsSize: "256m",
      containerWorkingDirectory: "/home/taskweaver/cwd",
      ipcDirectory: "/tmp/taskweaver-ipc",
      python: "python3",
      startTimeoutSeconds: 60,
    });
    expect(defaultContainerOptions({ cpus: 2 }).cpus).toBe(2);
  });

  it("takes every setting from the configuration, including the environment", () => {
    const config = loadConfig({
      appDir: mkdtempSync(join(tmpdir(), "tw-docker-config-")),
      env: { EXECUTION_SERVICE_DOCKER_MEMORY: "256m", EXECUTION_SERVICE_CUSTOM_IMAGE: "my/image:1" },
      overrides: {
        "execution_service.docker.network_mode": "bridge",
        "execution_service.docker.cpus": 0.5,
        "execution_service.docker.pids_limit": 64,
        "execution_service.docker.read_only_root": false,
      },
    });
    const options = containerOptionsFromConfig(config);
    expect(options.memoryBytes).toBe(256 * 1024 ** 2);
    expect(options.image).toBe("my/image:1");
    expect(options.networkMode).toBe("bridge");
    expect(options.cpus).toBe(0.5);
    expect(options.pidsLimit).toBe(64);
    expect(options.readOnlyRoot).toBe(false);
  });
});

describe("buildContainerSpec", () => {
  const spec = buildContainerSpec({
    security: defaultContainerOptions(),
    workingDirectory: "/host/session/cwd",
    ipcDirectory: "/tmp/taskweaver-ipc/abcd",
    sessionId: "s1",
    umask: "022",
  });
  const hostConfig = spec.HostConfig as Record<string, unknown>;

  it("applies every safety default to the container", () => {
    expect(hostConfig.NetworkMode).toBe("none");
    expect(spec.NetworkDisabled).toBe(true);
    expect(hostConfig.Memory).toBe(1024 ** 3);
    expect(hostConfig.MemorySwap).toBe(1024 ** 3);
    expect(hostConfig.NanoCpus).toBe(1e9);
    expect(hostConfig.PidsLimit).toBe(256);
    expect(hostConfig.CapDrop).toEqual(["ALL"]);
    expect(hostConfig.SecurityOpt).toEqual(["no-new-privileges"]);
    expect(hostConfig.ReadonlyRootfs).toBe(true);
    expect(hostConfig.Tmpfs).toEqual({ "/tmp": "rw,nosuid,nodev,size=256m" });
    expect(spec.User).toBe("10001:10001");
  });

  it("mounts only the working directory and the ipc directory, and labels the container", () => {
    expect(hostConfig.Binds).toEqual([
      "/host/session/cwd:/home/taskweaver/cwd:rw",
      "/tmp/taskweaver-ipc/abcd:/home/taskweaver/.kernel:rw",
    ]);
    expect(spec.Labels).toMatchObject({
      "io.taskweaver.managed": "true",
      "io.taskweaver.host-pid": String(process.pid),
      "io.taskweaver.session-id": "s1",
    });
    expect(hostConfig.PortBindings).toBeUndefined();
  });
});

describe("channelAddress", () => {
  it("formats ipc addresses as Jupyter does (path prefix, dash, port)", () => {
    const info = {
      transport: "ipc" as const,
      ip: "/tmp/x/kernel",
      shell_port: 1,
      iopub_port: 2,
      stdin_port: 3,
      control_port: 4,
      hb_port: 5,
      key: "k",
      signature_scheme: "hmac-sha256" as const,
      kernel_name: "python3",
    };
    expect(channelAddress(info, "control")).toBe("ipc:///tmp/x/kernel-4");
    expect(channelAddress({ ...info, transport: "tcp", ip: "127.0.0.1" }, "shell")).toBe("tcp://127.0.0.1:1");
  });
});

describe("resolveContainerUser", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("keeps the configured user and hands directories over when the host is root", () => {
    vi.spyOn(process, "getuid").mockReturnValue(0);
    expect(resolveContainerUser("10001:10001")).toEqual({ user: "10001:10001", share: "chown", umask: "022" });
  });

  it("runs the kernel as the host's own unprivileged user when the host is not root", () => {
    vi.spyOn(process, "getuid").mockReturnValue(1000);
    vi.spyOn(process, "getgid").mockReturnValue(1001);
    expect(resolveContainerUser("10001:10001")).toEqual({ user: "1000:1001", share: "none", umask: "022" });
  });

  it("opens directories only for an explicitly different user on a non-root host", () => {
    vi.spyOn(process, "getuid").mockReturnValue(1000);
    expect(resolveContainerUser("20000:20000")).toEqual({ user: "20000:20000", share: "open", umask: "000" });
  });
});

describe("dockerKernelStart", () => {
  const configWith = (overrides: Record<string, unknown>) =>
    loadConfig({ appDir: mkdtempSync(join(tmpdir(), "tw-docker-start-")), env: {}, overrides });

  it("keeps fork and spawn as named, and under auto forks only in pooled containers", async () => {
    expect(dockerKernelStart(await configWith({ "execution_service.kernel_start": "fork" }))).toBe("fork");
    expect(
      dockerKernelStart(await configWith({ "execution_service.kernel_start": "spawn", "execution_service.warm_pool_size": 2 })),
    ).toBe("spawn");
    expect(dockerKernelStart(await configWith({}))).toBe("spawn");
    expect(dockerKernelStart(await configWith({ "execution_service.warm_pool_size": 1 }))).toBe("fork");
  });
});
