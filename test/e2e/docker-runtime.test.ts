// The Docker runtime end to end against a real engine: a real container, a real ipykernel,
// ZeroMQ over ipc sockets in a bind mount. Core behaviours every runtime must have.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CodeExecutor } from "@taskweaver/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerExecutor, type KernelContainer } from "../../packages/executor/src/docker/index.js";
import { dockerTestGate, requireEngine } from "./docker-support.js";

const engine = await dockerTestGate("docker-runtime.test.ts");

describe.skipIf(engine.skip)("the Docker runtime", () => {
  let workingDirectory: string;
  let executor: CodeExecutor;
  const containers: KernelContainer[] = [];

  beforeAll(async () => {
    const client = requireEngine(engine);
    workingDirectory = mkdtempSync(join(tmpdir(), "tw-docker-runtime-"));
    executor = createDockerExecutor({
      workingDirectory,
      sessionId: "runtime-test",
      client,
      security: { image: engine.image },
      interruptGraceMs: 5_000,
      onContainer: (container) => containers.push(container),
    });
    await executor.start();
  }, 120_000);

  afterAll(async () => {
    await executor?.stop();
    if (workingDirectory) rmSync(workingDirectory, { recursive: true, force: true });
  });

  it("reports itself as the container runtime with the image it uses", () => {
    expect(executor.info.kind).toBe("container");
    expect(executor.info.details.image).toBe(engine.image);
    expect(executor.workingDirectory).toBe(workingDirectory);
  });

  it("keeps variables between executions and returns the displayed value", async () => {
    const first = await executor.execute("numbers = [1, 2, 3]\nprint('stored')");
    expect(first.outcome).toBe("ok");
    expect(first.stdout.join("")).toBe("stored\n");
    const second = await executor.execute("sum(numbers) + 1");
    expect(second.isSuccess).toBe(true);
    expect(second.output).toBe("7");
  });

  it("streams output while the code runs", async () => {
    const chunks: string[] = [];
    const result = await executor.execute("import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.05)", {
      onOutput: (output) => chunks.push(output.text),
    });
    expect(result.outcome).toBe("ok");
    expect(chunks.join("")).toBe("0\n1\n2\n");
  });

  it("reports a Python error with its name and a traceback without colour codes", async () => {
    const result = await executor.execute("def divide(a, b):\n    return a / b\ndivide(1, 0)");
    expect(result.outcome).toBe("error");
    expect(result.isSuccess).toBe(false);
    expect(result.error?.name).toBe("ZeroDivisionError");
    expect(result.error?.traceback).toContain("divide");
    expect(result.error?.traceback).not.toMatch(/\u001b\[/);
  });

  it("interrupts code that runs past the timeout and keeps the kernel's state", async () => {
    await executor.execute("kept = 'still here'");
    const started = Date.now();
    const result = await executor.execute("import time\nwhile True:\n    time.sleep(0.1)", { timeoutMs: 1_500 });
    expect(result.outcome).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(result.stateLost).toBe(false);
    const after = await executor.execute("kept");
    expect(after.output).toBe("'still here'");
  });

  it("interrupts running code when the signal aborts", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 500);
    const result = await executor.execute("import time\ntime.sleep(60)", { signal: controller.signal });
    expect(result.outcome).toBe("interrupted");
    expect((await executor.execute("1 + 1")).output).toBe("2");
  });

  it("saves a matplotlib figure as an artifact in the host's working directory", async () => {
    const result = await executor.execute(
      "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('demo')\nplt.show()",
    );
    expect(result.outcome).toBe("ok");
    const image = result.artifacts.find((artifact) => artifact.type === "image");
    expect(image).toBeDefined();
    const bytes = readFileSync(join(workingDirectory, image!.path));
    expect(bytes.subarray(1, 4).toString("latin1")).toBe("PNG");
  });

  it("lets the kernel read uploaded files and the host download files the kernel wrote", async () => {
    await executor.uploadFile("data/input.csv", new TextEncoder().encode("a,b\n1,2\n3,4\n"));
    const result = await executor.execute(
      "import pandas as pd\nframe = pd.read_csv('data/input.csv')\nframe['c'] = frame.a + frame.b\n" +
        "frame.to_csv('output.csv', index=False)\nint(frame.c.sum())",
    );
    expect(result.output).toBe("10");
    const downloaded = new TextDecoder().decode(await executor.downloadFile("output.csv"));
    expect(downloaded).toBe("a,b,c\n1,2,3\n3,4,7\n");
    const names = (await executor.listFiles()).map((file) => file.name);
    expect(names).toEqual(expect.arrayContaining(["data/input.csv", "output.csv"]));
    // The kernel may also replace a file the host put there.
    const overwrite = await executor.execute("open('data/input.csv', 'w').write('x')");
    expect(overwrite.outcome).toBe("ok");
  });

  it("maps files written by the host straight into the kernel's working directory", async () => {
    writeFileSync(join(workingDirectory, "from-host.txt"), "hello from the host");
    const result = await executor.execute("import os\nprint(os.getcwd())\nopen('from-host.txt').read()");
    expect(result.stdout.join("").trim()).toBe("/home/taskweaver/cwd");
    expect(result.output).toBe("'hello from the host'");
  });

  it("loses variables on restart, in a new container, but keeps the files", async () => {
    await executor.execute("lost_after_restart = 1");
    const before = containers.length;
    await executor.restart();
    expect(containers.length).toBe(before + 1);
    const result = await executor.execute("'lost_after_restart' in dir()");
    expect(result.output).toBe("False");
    expect((await executor.listFiles()).map((file) => file.name)).toContain("output.csv");
    const old = await requireEngine(engine).inspectContainer(containers[before - 1]!.id);
    expect(old).toBeUndefined();
  });

  it("reports a kernel that dies mid-execution and starts a fresh one for the next", async () => {
    const died = await executor.execute("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)");
    expect(died.outcome).toBe("kernel-died");
    expect(died.stateLost).toBe(true);
    const next = await executor.execute("21 * 2");
    expect(next.outcome).toBe("ok");
    expect(next.output).toBe("42");
  });

  it("removes its container on stop and is stopped for good", async () => {
    const client = requireEngine(engine);
    const own = mkdtempSync(join(tmpdir(), "tw-docker-stop-"));
    const started: KernelContainer[] = [];
    const short = createDockerExecutor({ workingDirectory: own, client, onContainer: (c) => started.push(c) });
    await short.start();
    expect((await client.inspectContainer(started[0]!.id))?.State.Running).toBe(true);
    await short.stop();
    await short.stop();
    expect(await client.inspectContainer(started[0]!.id)).toBeUndefined();
    await expect(short.execute("1")).rejects.toMatchObject({ code: "executor_stopped" });
    rmSync(own, { recursive: true, force: true });
  }, 60_000);
});
