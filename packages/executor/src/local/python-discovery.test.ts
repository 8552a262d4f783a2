import { spawnSync } from "node:child_process";
import { expect, test } from "vitest";
import { findPythonWithIpykernel, findPythonWithIpykernelSync } from "./python-discovery.js";

test("finds a Python that can import ipykernel, as its real executable path", async () => {
  const python = await findPythonWithIpykernel();
  expect(python.startsWith("/")).toBe(true);
  expect(spawnSync(python, ["-c", "import ipykernel"]).status).toBe(0);
  expect(findPythonWithIpykernelSync()).toBe(python);
});

test("a configured Python that cannot import ipykernel is an ExecutorUnavailableError naming the fix", async () => {
  await expect(findPythonWithIpykernel({ configured: "/no/such/python" })).rejects.toMatchObject({
    code: "executor_unavailable",
    message: expect.stringMatching(
      /execution_service\.python[\s\S]*\/no\/such\/python: not found[\s\S]*pip install ipykernel/,
    ),
  });
});
