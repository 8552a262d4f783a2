import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { createTemplateBubblewrapArguments } from "./sandbox.js";

const directories: string[] = [];
afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

test("a sandboxed template keeps the package's Python files even when the checkout is under /tmp (hidden by the sandbox's own /tmp)", async () => {
  const code = await mkdtemp(join(tmpdir(), "tw-checkout-python-"));
  const runtime = await mkdtemp(join(tmpdir(), "tw-fsb-test-"));
  directories.push(code, runtime);
  const args = await createTemplateBubblewrapArguments({
    runtimeDirectory: runtime,
    workingRoots: [],
    python: "/usr/bin/python3",
    options: {},
    codeDirectory: code,
  });
  const fresh = args.findIndex((arg, index) => arg === "--tmpfs" && args[index + 1] === "/tmp");
  const bound = args.findIndex((arg, index) => arg === "--ro-bind" && args[index + 1] === code && args[index + 2] === code);
  expect(fresh).toBeGreaterThanOrEqual(0);
  // Bound after /tmp is emptied, so it shows through.
  expect(bound).toBeGreaterThan(fresh);
});
