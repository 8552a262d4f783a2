// Scale-out: API instances as separate processes on one PostgreSQL database, over real HTTP.
// 1 instance vs 3 instances (30 sessions x 3 rounds, rounds spread over the instances), the
// fan-out latency from an event's commit on one instance to its SSE delivery on another, and one
// instance on SQLite vs on PostgreSQL. Each instance runs the API's fake session host (an
// instant model and no kernel) so that the figures are the API's and the database's own: with
// real kernels, starting 30 Python processes on this machine would dominate every number.
//
// Run: eval "$(bash scripts/postgres.sh)"; pnpm bench scale
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestDatabaseSchema, type TestDatabaseSchema } from "@taskweaver/testing";
import { formatMs, percentile } from "./stats.js";

const SESSIONS = 30;
const ROUNDS_PER_SESSION = 3;
const FAN_OUT_ROUNDS = 20;
const INSTANCE_FLAG = "TASKWEAVER_SCALE_BENCH_INSTANCE";

// In a child process: one API instance over the fake session host, store from the environment.
if (process.env[INSTANCE_FLAG]) {
  const { startApiServer, createPostgresSessionStore, createSqliteSessionStore } = await import(
    // The bench package does not depend on the API; reach its source as the tests do.
    "../../apps/api/src/index.js"
  );
  const { createFakeSessionHost } = await import("../../apps/api/src/testing/fake-session-host.js");
  const host = createFakeSessionHost();
  const url = process.env.SCALE_DATABASE_URL;
  const store = url
    ? await createPostgresSessionStore({ url, schema: process.env.SCALE_DATABASE_SCHEMA! })
    : createSqliteSessionStore({ path: process.env.SCALE_SQLITE_PATH! });
  const server = await startApiServer({
    taskWeaver: host,
    store,
    port: 0,
    env: {},
    apiKeys: [],
    logRequest: () => {},
    limits: { maxSessions: 256 },
  });
  process.stdout.write(`listening on ${server.url}\n`);
  process.on("SIGTERM", () => {
    void server.close(0).finally(() => {
      host.remove();
      process.exit(0);
    });
  });
  await new Promise(() => {});
}

interface Instance {
  url: string;
  child: ChildProcess;
}

async function startInstance(env: Record<string, string>): Promise<Instance> {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
    env: { ...process.env, [INSTANCE_FLAG]: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const url = /listening on (http:\/\/\S+)/.exec(output)?.[1];
    if (url) return { url, child };
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`instance did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function stopInstance(instance: Instance): Promise<void> {
  if (instance.child.exitCode !== null) return;
  const exited = new Promise((resolve) => instance.child.once("exit", resolve));
  instance.child.kill("SIGTERM");
  const timer = setTimeout(() => instance.child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

const post = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});

async function createSession(instance: Instance): Promise<string> {
  const answer = await fetch(`${instance.url}/api/v1/sessions`, { method: "POST" });
  if (answer.status !== 201) throw new Error(`create: ${answer.status} ${await answer.text()}`);
  return ((await answer.json()) as { id: string }).id;
}

/** 30 sessions at once, 3 rounds each; round r of session s goes to instance (s + r) % n. */
async function roundsWorkload(
  instances: Instance[],
): Promise<{ roundsPerSecond: number; latencies: number[] }> {
  const ids = await Promise.all(
    Array.from({ length: SESSIONS }, (_, index) => createSession(instances[index % instances.length]!)),
  );
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    ids.map(async (id, index) => {
      for (let round = 0; round < ROUNDS_PER_SESSION; round += 1) {
        const instance = instances[(index + round + 1) % instances.length]!;
        const begin = performance.now();
        const answer = await fetch(
          `${instance.url}/api/v1/sessions/${id}/messages`,
          post({ message: "hello" }),
        );
        const body = (await answer.json()) as { state?: string };
        if (answer.status !== 200 || body.state !== "finished")
          throw new Error(`round: ${answer.status} ${JSON.stringify(body)}`);
        latencies.push(performance.now() - begin);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { roundsPerSecond: latencies.length / seconds, latencies };
}

/** One session, rounds one after another: the per-round cost without any queueing. */
async function sequentialRounds(instance: Instance, count = 20): Promise<number[]> {
  const id = await createSession(instance);
  const latencies: number[] = [];
  for (let index = 0; index < count; index += 1) {
    const begin = performance.now();
    const answer = await fetch(`${instance.url}/api/v1/sessions/${id}/messages`, post({ message: "hello" }));
    await answer.json();
    latencies.push(performance.now() - begin);
  }
  return latencies;
}

/** Reads an SSE answer, calling `onEvent(id, receivedAt)` per event. */
async function readStream(answer: Response, onEvent: (id: number, at: number) => void): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of answer.body as unknown as AsyncIterable<Uint8Array>) {
    const at = performance.now();
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const id = /^id: (\d+)$/m.exec(block)?.[1];
      if (id) onEvent(Number(id), at);
    }
  }
}

/**
 * A round runs on instance A (its own SSE stream gets each event right after the commit); a
 * follower on instance B gets the same events through the database. The difference per event is
 * the fan-out latency. The fake host's `slow` round waits until interrupted, so the follower is
 * connected before the round's remaining events are committed.
 */
async function fanOut(a: Instance, b: Instance): Promise<number[]> {
  const samples: number[] = [];
  for (let index = 0; index < FAN_OUT_ROUNDS; index += 1) {
    const id = await createSession(a);
    const onA = new Map<number, number>();
    const onB = new Map<number, number>();
    let firstSeen!: (seq: number) => void;
    const first = new Promise<number>((resolve) => (firstSeen = resolve));
    const running = fetch(
      `${a.url}/api/v1/sessions/${id}/messages`,
      post({ message: "slow" }, { accept: "text/event-stream" }),
    ).then((answer) =>
      readStream(answer, (seq, at) => {
        onA.set(seq, at);
        firstSeen(seq);
      }),
    );
    const afterSeq = await first;
    // Wait until the round's next event (`post-status`) is stored too, then follow from there.
    const follower = await fetch(`${b.url}/api/v1/sessions/${id}/events`, {
      headers: { accept: "text/event-stream", "last-event-id": String(afterSeq + 2) },
    });
    const following = readStream(follower, (seq, at) => onB.set(seq, at));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await fetch(`${a.url}/api/v1/sessions/${id}/interrupt`, { method: "POST" });
    await Promise.all([running, following]);
    for (const [seq, at] of onB) {
      const committed = onA.get(seq);
      if (committed !== undefined && seq > afterSeq + 2) samples.push(at - committed);
    }
  }
  return samples;
}

function describe(label: string, result: { roundsPerSecond: number; latencies: number[] }): string {
  return (
    `${label.padEnd(34)} ${result.roundsPerSecond.toFixed(1).padStart(7)} rounds/s   ` +
    `round p50 ${formatMs(percentile(result.latencies, 50))}  p99 ${formatMs(percentile(result.latencies, 99))}`
  );
}

export async function run(): Promise<void> {
  const url = process.env.TASKWEAVER_TEST_DATABASE_URL;
  if (!url) {
    console.log(
      'scale: skipped, TASKWEAVER_TEST_DATABASE_URL is not set (eval "$(bash scripts/postgres.sh)")',
    );
    if (process.env.CI === "true") throw new Error("scale bench needs PostgreSQL under CI=true");
    return;
  }
  const schemas: TestDatabaseSchema[] = [];
  const freshSchema = () => {
    const schema = createTestDatabaseSchema("bench_scale", url);
    schemas.push(schema);
    return { SCALE_DATABASE_URL: url, SCALE_DATABASE_SCHEMA: schema.schema };
  };
  const sqliteDirectory = mkdtempSync(join(tmpdir(), "tw-scale-bench-"));
  const running: Instance[] = [];
  const start = async (env: Record<string, string>, count: number) => {
    const started: Instance[] = [];
    // One after the other: the first applies the migrations.
    for (let index = 0; index < count; index += 1) started.push(await startInstance(env));
    running.push(...started);
    return started;
  };
  const stop = async (instances: Instance[]) => Promise.all(instances.map(stopInstance));
  try {
    console.log(
      `${SESSIONS} sessions x ${ROUNDS_PER_SESSION} rounds, fake session host (instant model, no kernel), ` +
        `${cpus().length} cores, load ${loadavg()
          .map((value) => value.toFixed(2))
          .join(" ")}`,
    );
    const one = await start(freshSchema(), 1);
    const onePostgres = await roundsWorkload(one);
    console.log(describe("1 instance, PostgreSQL", onePostgres));
    const alonePostgres = await sequentialRounds(one[0]!);
    await stop(one);

    const three = await start(freshSchema(), 3);
    const threePostgres = await roundsWorkload(three);
    console.log(describe("3 instances, one PostgreSQL", threePostgres));
    const samples = await fanOut(three[0]!, three[1]!);
    console.log(
      `fan-out commit on A -> SSE on B       p50 ${formatMs(percentile(samples, 50))}  p99 ${formatMs(percentile(samples, 99))}  ` +
        `(${samples.length} events, target p50 <= 5 ms)`,
    );
    await stop(three);

    const sqlite = await start({ SCALE_SQLITE_PATH: join(sqliteDirectory, "bench.sqlite") }, 1);
    const oneSqlite = await roundsWorkload(sqlite);
    console.log(describe("1 instance, SQLite", oneSqlite));
    const aloneSqlite = await sequentialRounds(sqlite[0]!);
    await stop(sqlite);
    const overhead = percentile(onePostgres.latencies, 50) - percentile(oneSqlite.latencies, 50);
    console.log(
      `PostgreSQL vs SQLite, one instance, 30 at once: round p50 ${overhead >= 0 ? "+" : ""}${formatMs(overhead)}`,
    );
    console.log(
      `one round at a time (20 rounds, one session): PostgreSQL p50 ${formatMs(percentile(alonePostgres, 50))}, ` +
        `SQLite p50 ${formatMs(percentile(aloneSqlite, 50))}`,
    );
    console.log(
      `load after: ${loadavg()
        .map((value) => value.toFixed(2))
        .join(" ")}`,
    );
  } finally {
    await stop(running);
    rmSync(sqliteDirectory, { recursive: true, force: true });
    for (const schema of schemas) await schema.drop();
  }
}
