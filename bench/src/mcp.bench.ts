// MCP tool call benchmark: one call of `everything.echo(message=...)` from Python in a real
// local kernel, to server-everything over stdio and back (kernel -> stdin channel -> host ->
// schema check -> MCP client -> server -> back), p50 over 200 calls timed inside Python,
// against the server's own time: the same call made directly by an MCP SDK client on the host
// to another instance of the server. The difference is what the kernel bridge adds.
// Blocks of both alternate so load from other processes hits both alike.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { createTaskWeaver } from "@taskweaver/core";
import { createExecutorFactory } from "@taskweaver/executor";
import { formatMs, percentile, recordFigure } from "./stats.js";

const PYTHON = "/usr/bin/python3";
const CALLS = 200;
const BLOCK = 20;
const TARGET_MS = 5;

const require = createRequire(import.meta.url);
const SERVER = require.resolve("@modelcontextprotocol/server-everything/dist/index.js");

export async function run(): Promise<void> {
  const appDir = await mkdtemp(join(tmpdir(), "tw-bench-mcp-"));
  const server = { command: process.execPath, args: [SERVER, "stdio"] };
  await writeFile(
    join(appDir, "taskweaver_config.json"),
    JSON.stringify({
      "llm.api_key": "unused",
      "llm.model": "unused",
      "session.roles": ["code_interpreter"],
      "execution_service.python": PYTHON,
      "mcp.servers": { everything: server },
    }),
  );
  const app = await createTaskWeaver({ appDir, createExecutorFactory, env: {} });
  const direct = new Client({ name: "bench", version: "1.0.0" });
  try {
    const session = await app.createSession({ warmUp: false });
    const executor = await session.executor();
    await direct.connect(new StdioClientTransport({ ...server, stderr: "ignore" }));

    const throughKernel: number[] = [];
    const directly: number[] = [];
    const kernelBlock = async () => {
      const result = await executor.execute(
        `import json, time\n_t = []\nfor _ in range(${BLOCK}):\n    _s = time.perf_counter()\n    everything.echo(message="ping")\n    _t.append((time.perf_counter() - _s) * 1000)\nprint(json.dumps(_t))`,
      );
      if (!result.isSuccess) throw new Error(`the benchmark cell failed: ${result.error?.value ?? result.notes.join(" ")}`);
      throughKernel.push(...(JSON.parse(result.stdout.join("")) as number[]));
    };
    const directBlock = async () => {
      for (let index = 0; index < BLOCK; index += 1) {
        const started = performance.now();
        await direct.callTool({ name: "echo", arguments: { message: "ping" } });
        directly.push(performance.now() - started);
      }
    };
    // Warm-up: JIT, first-call imports, the server's first answers.
    await kernelBlock();
    await directBlock();
    throughKernel.length = 0;
    directly.length = 0;
    for (let done = 0; done < CALLS; done += BLOCK) {
      await kernelBlock();
      await directBlock();
    }
    const kernelP50 = percentile(throughKernel, 50);
    const directP50 = percentile(directly, 50);
    const overhead = kernelP50 - directP50;
    console.log(`runtime: local kernel (${executor.info.details["sandbox"] ? "bubblewrap sandbox" : "no sandbox"}), ${CALLS} calls each`);
    console.log(`everything.echo from Python, round trip   p50 ${formatMs(kernelP50)}  p90 ${formatMs(percentile(throughKernel, 90))}  p99 ${formatMs(percentile(throughKernel, 99))}`);
    console.log(`the server's own time (SDK client on host) p50 ${formatMs(directP50)}  p90 ${formatMs(percentile(directly, 90))}  p99 ${formatMs(percentile(directly, 99))}`);
    console.log(`added by the kernel bridge (p50 difference): ${formatMs(overhead)} (target at most ${TARGET_MS} ms: ${overhead <= TARGET_MS ? "met" : "MISSED"})`);
    recordFigure("local", "MCP call p50 (over server)", `${kernelP50.toFixed(2)} (+${overhead.toFixed(2)}) ms`);
    await session.stop();
  } finally {
    await direct.close().catch(() => undefined);
    await app.close();
    await rm(appDir, { recursive: true, force: true });
  }
}
