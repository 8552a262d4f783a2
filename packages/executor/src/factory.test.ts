import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, TaskWeaverError, type CodeExecutor } from "@taskweaver/core";
import { afterAll, describe, expect, test } from "vitest";
import { createExecutorFactory, runtimes } from "./factory.js";

const directories: string[] = [];
afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

async function configFor(overrides: Record<string, unknown>) {
  const appDir = await mkdtemp(join(tmpdir(), "tw-factory-"));
  directories.push(appDir);
  return loadConfig({ appDir, env: {}, overrides });
}

describe("createExecutorFactory", () => {
  test("refuses remote mode without a server URL, naming the key to set", async () => {
    const config = await configFor({ "execution_service.kernel_mode": "remote" });
    let caught: unknown;
    try {
      createExecutorFactory(config);
    } catch (error) {
      caught = error;
    }
    expect(TaskWeaverError.isInstance(caught)).toBe(true);
    expect((caught as Error).message).toContain("execution_service.remote.url");
  });

  test("gives every kernel mode a runtime", () => {
    expect(Object.keys(runtimes).sort()).toEqual(["container", "local", "remote"]);
  });

  test("uses a runtime given in the options instead of the built-in one", async () => {
    const config = await configFor({ "execution_service.kernel_mode": "remote" });
    const fake = { info: { kind: "fake", details: {} } } as unknown as CodeExecutor;
    const factory = createExecutorFactory(config, { runtimes: { remote: () => () => fake } });
    expect(await factory({ sessionId: "s", workingDirectory: "/tmp/x" })).toBe(fake);
  });

  test("names the install command when the configured Python has no ipykernel", async () => {
    const config = await configFor({ "execution_service.python": "/definitely/not/python3" });
    const directory = await mkdtemp(join(tmpdir(), "tw-factory-cwd-"));
    directories.push(directory);
    const executor = await createExecutorFactory(config)({ sessionId: "s", workingDirectory: directory });
    expect(executor.info.kind).toBe("local");
    const error = await executor.start().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(TaskWeaverError.isInstance(error) && error.code).toBe("executor_unavailable");
    expect((error as Error).message).toMatch(/apt-get install python3-ipykernel/);
    expect((error as Error).message).toMatch(/pip install ipykernel/);
    expect((error as Error).message).toContain("/definitely/not/python3");
  });

  test("names the install command when the configured Python exists but lacks ipykernel", async () => {
    const config = await configFor({});
    const { spawnSync } = await import("node:child_process");
    const bare = ["python3", "/usr/bin/python3"].find(
      (candidate) =>
        spawnSync(candidate, [
          "-c",
          "import sys; import importlib.util as u; sys.exit(0 if u.find_spec('ipykernel') is None else 1)",
        ]).status === 0,
    );
    // This machine's pyenv python3 has no ipykernel; elsewhere the check above covers the message.
    if (bare === undefined) return;
    const directory = await mkdtemp(join(tmpdir(), "tw-factory-cwd-"));
    directories.push(directory);
    const executor = await createExecutorFactory(config.withOverrides({ "execution_service.python": bare }))({
      sessionId: "s",
      workingDirectory: directory,
    });
    const error = await executor.start().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(TaskWeaverError.isInstance(error) && error.code).toBe("executor_unavailable");
    expect((error as Error).message).toMatch(/has no ipykernel/);
    expect((error as Error).message).toMatch(/apt-get install python3-ipykernel/);
  });

  test.skipIf(process.platform !== "linux")(
    "says its starts are quick once kernels are forked from a running template, and a forked kernel's memory is read when asked",
    { timeout: 120_000 },
    async () => {
      const config = await configFor({
        "execution_service.python": "/usr/bin/python3",
        "execution_service.kernel_start": "fork",
        "execution_service.local.sandbox": "none",
      });
      const factory = createExecutorFactory(config);
      try {
        // Nothing is running yet: the first kernel waits for the template's imports.
        expect(factory.startsQuickly?.()).toBe(false);
        const directory = await mkdtemp(join(tmpdir(), "tw-factory-cwd-"));
        directories.push(directory);
        const executor = await factory({ sessionId: "s", workingDirectory: directory });
        expect(await executor.readMemory!()).toBeUndefined();
        await executor.start();
        expect(factory.startsQuickly?.()).toBe(true);
        const memory = await executor.readMemory!();
        expect(memory!.ussBytes).toBeGreaterThan(0);
        expect(memory!.pssBytes).toBeLessThan(memory!.rssBytes);
        await executor.stop();
        expect(await executor.readMemory!()).toBeUndefined();
      } finally {
        await factory.dispose?.();
      }
    },
  );
});
