// Remote runtime figures against a real `jupyter server` on 127.0.0.1: executor start-to-ready
// and the `1+1` round trip, with and without prompt WebSocket acknowledgements (the fix for
// the ~40 ms Nagle + delayed-ACK stall of Tornado's per-message writes).
import type { CodeExecutor } from "@taskweaver/core";
import { connectKernelWebSocket, createJupyterRestClient, createKernelClient } from "@taskweaver/executor/internal";
import { createRemoteExecutor } from "../../packages/executor/src/remote/index.js";
import { jupyterServerUnavailableReason, startJupyterServer } from "../../test/src/jupyter-server.js";
import { formatMs, p50p99, percentile, recordFigure } from "./stats.js";

const STARTS = 3;
const ROUND_TRIPS = 200;
/** Runs alternate between the two executors in batches, so machine load hits both alike. */
const BATCH = 20;

export async function run(): Promise<void> {
  const unavailable = jupyterServerUnavailableReason();
  if (unavailable !== undefined) {
    console.log(`remote: skipped: ${unavailable}`);
    return;
  }
  const server = await startJupyterServer();
  const executors: CodeExecutor[] = [];
  try {
    console.log(`jupyter server at ${server.url}`);
    const startTimes: number[] = [];
    for (let attempt = 0; attempt < STARTS; attempt += 1) {
      const executor = createRemoteExecutor({
        url: server.url,
        token: server.token,
        sessionId: `bench-start-${attempt}`,
      });
      const started = performance.now();
      await executor.start();
      startTimes.push(performance.now() - started);
      await executor.stop();
    }
    console.log(
      `start-to-ready (POST kernel, WebSocket, kernel_info, support code), ${STARTS} runs: ` +
        `median ${formatMs(percentile(startTimes, 50))}, max ${formatMs(Math.max(...startTimes))}`,
    );

    const variants = [
      { label: "prompt ACK (default)", promptAcknowledge: true, times: [] as number[] },
      { label: "plain WebSocket", promptAcknowledge: false, times: [] as number[] },
    ];
    const running = await Promise.all(
      variants.map(async (variant, index) => {
        const executor = createRemoteExecutor({
          url: server.url,
          token: server.token,
          sessionId: `bench-rtt-${index}`,
          promptAcknowledge: variant.promptAcknowledge,
        });
        executors.push(executor);
        await executor.start();
        for (let warm = 0; warm < 10; warm += 1) await executor.execute("1+1");
        return executor;
      }),
    );
    for (let done = 0; done < ROUND_TRIPS; done += BATCH) {
      for (const [index, variant] of variants.entries()) {
        for (let run = 0; run < BATCH; run += 1) {
          const started = performance.now();
          const result = await running[index]!.execute("1+1");
          variant.times.push(performance.now() - started);
          if (result.output !== "2") throw new Error(`unexpected result ${JSON.stringify(result)}`);
        }
      }
    }
    recordFigure("remote", "start-to-ready", formatMs(percentile(startTimes, 50)));
    recordFigure("remote", "1+1 p50 / p99", p50p99(variants[0]!.times));
    for (const variant of variants) {
      console.log(
        `1+1 round trip, ${ROUND_TRIPS} runs, ${variant.label}: ` +
          `p50 ${formatMs(percentile(variant.times, 50))}, p99 ${formatMs(percentile(variant.times, 99))}`,
      );
    }

    // The same comparison one layer down: the bare Jupyter protocol client on one kernel, two
    // WebSockets (with and without prompt ACKs), no TaskWeaver support code in the kernel.
    const rest = createJupyterRestClient({ baseUrl: new URL(server.url), token: server.token });
    const kernel = await rest.startKernel({ name: "python3", path: "" });
    try {
      const clients = await Promise.all(
        [true, false].map(async (promptAcknowledge, index) => {
          const session = `bench-protocol-${index}`;
          const transport = await connectKernelWebSocket({
            baseUrl: new URL(server.url),
            token: server.token,
            kernelId: kernel.id,
            sessionId: session,
            promptAcknowledge,
          });
          const client = createKernelClient(transport, { session });
          await client.waitForReady({ timeoutMs: 60_000 });
          return client;
        }),
      );
      const protocolTimes: number[][] = [[], []];
      for (let done = 0; done < ROUND_TRIPS; done += BATCH) {
        for (const [index, client] of clients.entries()) {
          for (let run = 0; run < BATCH; run += 1) {
            const started = performance.now();
            await client.execute("1+1", { storeHistory: false }).done;
            protocolTimes[index]!.push(performance.now() - started);
          }
        }
      }
      for (const [index, label] of ["prompt ACK", "plain WebSocket"].entries()) {
        const times = protocolTimes[index]!;
        console.log(
          `protocol only (execute_request to idle), ${ROUND_TRIPS} runs, ${label}: ` +
            `p50 ${formatMs(percentile(times, 50))}, p99 ${formatMs(percentile(times, 99))}`,
        );
      }
      for (const client of clients) client.close();
    } finally {
      await rest.deleteKernel(kernel.id);
    }
    console.log(
      "baseline: a plain WebSocket client against Jupyter Server shows a flat ~40 ms per execution",
    );
  } finally {
    await Promise.all(executors.map((executor) => executor.stop().catch(() => undefined)));
    await server.close();
  }
}
