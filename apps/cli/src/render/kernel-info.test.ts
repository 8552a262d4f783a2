import { describe, expect, it } from "vitest";
import { describeKernelForInfo } from "./kernel-info.js";

describe("describeKernelForInfo", () => {
  it("says a kernel is not started yet", () => {
    expect(describeKernelForInfo(undefined)).toEqual(["Kernel:   not started yet (it starts with the first code to run)"]);
  });

  it("describes a forked kernel with its memory, PSS first", () => {
    const lines = describeKernelForInfo({
      kind: "local",
      details: { pid: "4242", start: "fork", python: "/usr/bin/python3" },
      memory: { rssBytes: 120 * 1024 * 1024, pssBytes: 29.5 * 1024 * 1024, ussBytes: 15.25 * 1024 * 1024 },
    });
    expect(lines).toEqual([
      "Kernel:   local, pid 4242, forked from the template",
      "Memory:   PSS 29.5 MiB · USS 15.3 MiB · RSS 120.0 MiB",
    ]);
  });

  it("names the container or remote kernel, and leaves memory out where it is not measured", () => {
    expect(describeKernelForInfo({ kind: "container", details: { containerId: "0123456789abcdef" } })).toEqual([
      "Kernel:   container, container 0123456789ab",
    ]);
    expect(describeKernelForInfo({ kind: "remote", details: { kernelId: "k-1" } })).toEqual(["Kernel:   remote, kernel k-1"]);
  });
});
