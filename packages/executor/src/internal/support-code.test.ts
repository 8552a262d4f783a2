import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { HOST_CALL_PREFIX, SUPPORT_CODE_PATH } from "./support-code.js";

describe("the host-call marker", () => {
  it("is the same in the host and in the kernel's support code", async () => {
    const source = await readFile(SUPPORT_CODE_PATH, "utf8");
    const python = /^HOST_CALL_PREFIX = "(.*)"$/m.exec(source)?.[1];
    expect(python?.replace("\\x1e", "\u001e")).toBe(HOST_CALL_PREFIX);
  });
});
