// API load: 50 sessions at once, 3 rounds each, over real HTTP against a `serve` process with
// real kernels and an instant fake model (code-interpreter-only rounds running trivial code).
// Prints rounds/s, round latency, and peak memory of the server process and of its kernels.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { createTestAppDir, REPO_ROOT, startFakeOpenAIServer } from "@taskweaver/testing";
import { cpuSeconds } from "./kernel-start-cpu.js";
import { formatMs, percentile } from "./stats.js";

const SESSIONS = 50;
/** The target for the round latency p99 with forked kernels on this 2-core machine. */
const ROUND_P99_TARGET_MS = 2_000;
const ROUNDS_PER_SESSION = 3;
const SAMPLE_EVERY_MS = 200;
/** How kernels start (`execution_service.kernel_start`); `TASKWEAVER_BENCH_KERNEL_START=spawn` compares. */
const KERNEL_START = process.env.TASKWEAVER_BENCH_KERNEL_START ?? "fork";
/** `execution_service.local.sandbox`; `TASKWEAVER_BENCH_SANDBOX=auto` measures the default. */
const SANDBOX = process.env.TASKWEAVER_BENCH_SANDBOX ?? "none";

/** Proportional set size: shared pages (a fork template's) divided between the processes mapping them. */
function proportionalBytes(pid: number): number {
  try {
    const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function residentBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0; // the process just ended
  }
}

/** Every process below `root` (kernels and whatever launched them). */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The command name is in parentheses and may hold spaces: the parent id follows it.
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(parent) ?? [];
      list.push(Number(entry));
      children.set(parent, list);
    } catch {
      // gone
    }
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

const mebibytes = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(0)} MiB`;

export async function run(): Promise<void> {
  const code = "value = 1 + 1\nvalue";
  const model = await startFakeOpenAIServer({
    handler: () =>
      JSON.stringify({ response: { thought: "Add.", reply_type: "python", reply_content: code } }),
  });
  const appDir = createTestAppDir({
    copySample: false,
    config: {
      "llm.api_base": model.url,
      "llm.api_key": "bench",
      "llm.model": "fake-model",
      "session.roles": ["code_interpreter"],
      "api.max_sessions": SESSIONS,
      "execution_service.kernel_start": KERNEL_START,
      // Unsandboxed by default, as the figures before sandboxed forks were taken;
      // `TASKWEAVER_BENCH_SANDBOX=auto` measures the default (sandboxed) runtime.
      "execution_service.local.sandbox": SANDBOX,
    },
  });
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(LLM_|OPENAI_|SESSION_|EXECUTION_SERVICE_|API_|TASKWEAVER_API_KEYS)/.test(key)) env[key] = value;
  }
  const server = spawn(
    process.execPath,
    ["--import", "tsx", join(REPO_ROOT, "apps/api/src/serve.ts"), "-p", appDir.path, "--port", "0"],
    {
      cwd: REPO_ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  server.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  // The request log goes to stderr; keep only the tail for error reports.
  server.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-20_000)));
  const exited = new Promise<number | null>((resolve) => server.on("close", resolve));

  let peakServer = 0;
  let peakKernels = 0;
  let peakKernelCount = 0;
  let kernelsPss = 0;
  const sampler = setInterval(() => {
    peakServer = Math.max(peakServer, residentBytes(server.pid!));
    const kernels = descendants(server.pid!);
    peakKernels = Math.max(
      peakKernels,
      kernels.reduce((sum, pid) => sum + residentBytes(pid), 0),
    );
    peakKernelCount = Math.max(peakKernelCount, kernels.length);
  }, SAMPLE_EVERY_MS);

  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the server did not start:\n${stdout}\n${stderr}`)),
        60_000,
      );
      server.stdout.on("data", () => {
        const match = /listening on (http:\/\/\S+)/.exec(stdout);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      void exited.then(() => reject(new Error(`the server exited:\n${stdout}\n${stderr}`)));
    });
    const base = `${url}/api/v1`;

    // One session and round first, untimed: the app's one-time costs (the fork template's
    // imports, about three kernel starts, which `pnpm bench kernel` measures apart; the server's
    // first use of its code paths) are not a load figure. Done for spawn alike.
    const warmUpStarted = performance.now();
    const warmUp = await fetch(`${base}/sessions`, { method: "POST" });
    const warmUpId = ((await warmUp.json()) as { id: string }).id;
    const warmUpRound = await fetch(`${base}/sessions/${warmUpId}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message: "add one and one (warm-up)" }),
    });
    const warmUpBody = await warmUpRound.text();
    if (warmUpRound.status !== 200) throw new Error(`the warm-up round answered ${warmUpRound.status}: ${warmUpBody}`);
    const warmUpMs = performance.now() - warmUpStarted;
    await (await fetch(`${base}/sessions/${warmUpId}`, { method: "DELETE" })).arrayBuffer();

    const started = performance.now();
    const cpuBefore = new Map([server.pid!, ...descendants(server.pid!)].map((pid) => [pid, cpuSeconds(pid)]));
    const latencies: number[] = [];
    const firstRoundLatencies: number[] = [];
    const laterRoundLatencies: number[] = [];
    const failures: string[] = [];
    const sessionIds = await Promise.all(
      Array.from({ length: SESSIONS }, async () => {
        const response = await fetch(`${base}/sessions`, { method: "POST" });
        if (response.status !== 201)
          throw new Error(`creating a session answered ${response.status}: ${await response.text()}`);
        return ((await response.json()) as { id: string }).id;
      }),
    );
    const created = performance.now();
    await Promise.all(
      sessionIds.map(async (id) => {
        for (let round = 0; round < ROUNDS_PER_SESSION; round += 1) {
          const sent = performance.now();
          let response: Response;
          try {
            response = await fetch(`${base}/sessions/${id}/messages`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ message: `add one and one (${round + 1})` }),
            });
          } catch (error) {
            failures.push(
              `${id} round ${round + 1} after ${formatMs(performance.now() - sent)}: ${String(error)} ${String((error as Error).cause)}`,
            );
            continue;
          }
          const body = (await response.json()) as { state?: string; error?: unknown };
          const latency = performance.now() - sent;
          latencies.push(latency);
          (round === 0 ? firstRoundLatencies : laterRoundLatencies).push(latency);
          if (response.status !== 200 || body.state !== "finished") {
            failures.push(
              `${id} round ${round + 1}: ${response.status} ${JSON.stringify(body.error ?? body)}`,
            );
          }
        }
      }),
    );
    const finished = performance.now();
    // Read once, after the load, with every session's kernel still alive: smaps_rollup walks each
    // process's page tables, and sampling it during the load took CPU from the rounds measured.
    kernelsPss = descendants(server.pid!).reduce((sum, pid) => sum + proportionalBytes(pid), 0);
    // What the load itself cost in CPU, from the processes still alive (the server, the kernels
    // and the template): on an otherwise idle machine the rounds cannot take less than this
    // divided by the cores. Other users' load does not enter it.
    const cpuUsed = (pid: number) => cpuSeconds(pid) - (cpuBefore.get(pid) ?? 0);
    const serverCpu = cpuUsed(server.pid!);
    const kernelsCpu = descendants(server.pid!).reduce((sum, pid) => sum + cpuUsed(pid), 0);
    const rounds = SESSIONS * ROUNDS_PER_SESSION;
    const seconds = (finished - created) / 1000;
    const succeeded = rounds - failures.length;
    console.log(
      `${SESSIONS} sessions x ${ROUNDS_PER_SESSION} rounds = ${rounds} rounds, ${succeeded} finished`,
    );
    console.log(`warm-up session and round (untimed above; template start included for fork): ${formatMs(warmUpMs)}`);
    console.log(`creating ${SESSIONS} sessions:    ${formatMs(created - started)}`);
    console.log(
      `rounds:                    ${seconds.toFixed(1)} s, ${(succeeded / seconds).toFixed(2)} rounds/s`,
    );
    console.log(
      `round latency:             p50 ${formatMs(percentile(latencies, 50))}, p99 ${formatMs(percentile(latencies, 99))}, max ${formatMs(Math.max(...latencies))}`,
    );
    console.log(
      `  first round per session (kernel start included): p50 ${formatMs(percentile(firstRoundLatencies, 50))}`,
    );
    console.log(
      `  later rounds:                                    p50 ${formatMs(percentile(laterRoundLatencies, 50))}`,
    );
    console.log(`kernel_start:              ${KERNEL_START}, sandbox ${SANDBOX}`);
    if (KERNEL_START === "fork")
      console.log(`  round p99 <= ${formatMs(ROUND_P99_TARGET_MS)}: ${percentile(latencies, 99) <= ROUND_P99_TARGET_MS ? "OK" : "MISSED"}`);
    console.log(
      `CPU used by the load:      server ${serverCpu.toFixed(1)} s, kernels ${kernelsCpu.toFixed(1)} s (${((serverCpu + kernelsCpu) / cpus().length).toFixed(1)} s of ${cpus().length} cores)`,
    );
    console.log(`peak RSS, server process:  ${mebibytes(peakServer)}`);
    console.log(
      `peak RSS, kernels (sum):   ${mebibytes(peakKernels)} over ${peakKernelCount} processes (${mebibytes(peakKernels / Math.max(1, peakKernelCount))} each)`,
    );
    console.log(`PSS after, kernels (sum):  ${mebibytes(kernelsPss)} (the fork template included)`);
    console.log(
      `machine load average:      ${loadavg()
        .map((value) => value.toFixed(1))
        .join(", ")} on ${cpus().length} cores`,
    );
    if (failures.length > 0) {
      throw new Error(
        `${failures.length} of ${rounds} rounds failed:\n${failures.slice(0, 5).join("\n")}\nserver log tail:\n${stderr.slice(-3_000)}`,
      );
    }
    console.log(`model calls:               ${model.chatRequests.length}`);
  } finally {
    clearInterval(sampler);
    server.kill("SIGTERM");
    const timer = setTimeout(() => server.kill("SIGKILL"), 60_000);
    await exited;
    clearTimeout(timer);
    await model.close();
    appDir.remove();
  }
}
