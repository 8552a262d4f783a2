// Faults under the API's session store, over real HTTP against `serve` processes with real
// kernels and an instant fake model, with SQLite and PostgreSQL (a private cluster this bench
// starts with scripts/postgres.sh, and stops):
//
// - kill -9 of the server while rounds run, then a restart on the same database: every round a
//   caller saw finished must be there, finished, with its posts; rounds cut short must be marked
//   failed (none left "running"); the database must pass its integrity check; the next round runs.
// - a full disk under the database (SQLite on a 4 MiB tmpfs, filled by a file): what callers get
//   while it lasts, and that the rounds committed before are intact and new ones run once freed.
// - a database locked by another process (SQLite: BEGIN EXCLUSIVE from python3; PostgreSQL:
//   LOCK TABLE rounds from psql): what callers get while it lasts, and how long they wait.
//
// Needs root for the tmpfs mount (skipped otherwise, said in the table). Every process, mount and
// folder it makes, it removes.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestAppDir, REPO_ROOT, startFakeOpenAIServer } from "@taskweaver/testing";

type Store = "SQLite" | "PostgreSQL";

interface Server {
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  log: () => string;
}

interface RoundAnswer {
  status: number;
  state?: string;
  id?: string;
  error?: { code?: string; message?: string };
  failed?: string;
  ms: number;
}

/** `api.instance_lost_timeout` of the bench's servers (15 s by default), so lost rounds lapse quickly. */
const LEASE_SECONDS = 3;
const ROUND_CODE = "import time\ntime.sleep(0.3)\nvalue = 1 + 1\nvalue";

function cleanEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(LLM_|OPENAI_|SESSION_|EXECUTION_SERVICE_|API_|TASKWEAVER_API_KEYS)/.test(key)) env[key] = value;
  }
  return env;
}

async function startServer(appDir: string, config: string[]): Promise<Server> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      join(REPO_ROOT, "apps/api/src/serve.ts"),
      "-p",
      appDir,
      "--port",
      "0",
      ...[`api.instance_lost_timeout=${LEASE_SECONDS}`, ...config].flatMap((assignment) => [
        "--config",
        assignment,
      ]),
    ],
    { cwd: REPO_ROOT, env: cleanEnvironment(), stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-20_000)));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the server did not start:\n${stdout}\n${stderr}`)),
      120_000,
    );
    child.stdout!.on("data", () => {
      const match = /listening on (http:\/\/\S+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the server exited:\n${stdout}\n${stderr}`));
    });
  });
  return { url: `${url}/api/v1`, child, exited, log: () => stderr };
}

async function stopServer(server: Server, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill(signal);
  const timer = setTimeout(() => server.child.kill("SIGKILL"), 30_000);
  await server.exited;
  clearTimeout(timer);
}

async function createSession(server: Server): Promise<string> {
  const response = await fetch(`${server.url}/sessions`, { method: "POST" });
  if (response.status !== 201)
    throw new Error(`creating a session answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}

async function sendRound(
  server: Server,
  sessionId: string,
  message: string,
  timeoutMs = 30_000,
): Promise<RoundAnswer> {
  const started = performance.now();
  try {
    const response = await fetch(`${server.url}/sessions/${sessionId}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await response.json().catch(() => ({}))) as {
      id?: string;
      state?: string;
      error?: { code?: string; message?: string };
    };
    return {
      status: response.status,
      state: body.state,
      id: body.id,
      error: body.error,
      ms: performance.now() - started,
    };
  } catch (error) {
    const cause = (error as Error).cause as { code?: string } | undefined;
    return { status: 0, failed: cause?.code ?? (error as Error).name, ms: performance.now() - started };
  }
}

interface StoredRoundView {
  id: string;
  state: string;
  error?: { code?: string } | null;
  post_list?: unknown[];
}

async function listRounds(server: Server, sessionId: string): Promise<StoredRoundView[]> {
  const response = await fetch(`${server.url}/sessions/${sessionId}`);
  if (response.status !== 200) throw new Error(`reading session ${sessionId} answered ${response.status}`);
  return ((await response.json()) as { rounds: StoredRoundView[] }).rounds;
}

function describeAnswer(answer: RoundAnswer): string {
  if (answer.status === 0) return `no answer (${answer.failed})`;
  if (answer.status === 200)
    return `200 ${answer.state}${answer.error?.code ? ` (${answer.error.code})` : ""}`;
  return `${answer.status} ${answer.error?.code ?? ""}: ${(answer.error?.message ?? "").slice(0, 90)}`;
}

function sqliteIntegrity(path: string): string {
  const result = spawnSync(
    "python3",
    [
      "-c",
      "import sqlite3, sys\nprint(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])",
      path,
    ],
    { encoding: "utf8" },
  );
  return result.stdout.trim() || result.stderr.trim().split("\n").at(-1) || "?";
}

function psql(url: string, sql: string): string {
  const result = spawnSync("psql", [url, "-At", "-c", sql], { encoding: "utf8" });
  return result.status === 0 ? result.stdout.trim() : `psql failed: ${result.stderr.trim()}`;
}

/** kill -9 while rounds run; restart; check. */
async function killNine(
  store: Store,
  appDir: string,
  config: string[],
  integrity: () => string,
): Promise<string[]> {
  const server = await startServer(appDir, config);
  const sessions = await Promise.all([0, 1, 2].map(() => createSession(server)));
  const finished = new Map<string, string[]>(sessions.map((id) => [id, []]));
  const cutShort: string[] = [];
  let killed = false;
  const loops = sessions.map(async (id) => {
    for (let round = 0; !killed; round += 1) {
      const answer = await sendRound(server, id, `add (${round})`);
      if (answer.status === 200 && answer.state === "finished" && answer.id)
        finished.get(id)!.push(answer.id);
      else if (killed) cutShort.push(describeAnswer(answer));
      else
        throw new Error(
          `a round before the kill failed: ${describeAnswer(answer)}\n${server.log().slice(-2000)}`,
        );
    }
  });
  // Long enough for a few rounds per session, then in the middle of the next ones.
  const deadline = Date.now() + 60_000;
  while ([...finished.values()].some((ids) => ids.length < 2) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 50));
  await new Promise((resolve) => setTimeout(resolve, 150));
  killed = true;
  server.child.kill("SIGKILL");
  await server.exited;
  await Promise.all(loops);
  const committed = [...finished.values()].reduce((sum, ids) => sum + ids.length, 0);

  const restarted = await startServer(appDir, config);
  try {
    // At once: the dead instance's round lease has not lapsed yet (api.instance_lost_timeout).
    const atOnce = await sendRound(restarted, sessions[0]!, "right after the restart");
    await new Promise((resolve) => setTimeout(resolve, (LEASE_SECONDS + 3) * 1000));
    let intact = 0;
    let failedAfter = 0;
    let leftRunning = 0;
    const failedCodes = new Set<string>();
    for (const id of sessions) {
      const rounds = await listRounds(restarted, id);
      for (const roundId of finished.get(id)!) {
        const round = rounds.find((candidate) => candidate.id === roundId);
        if (round?.state === "finished" && (round.post_list?.length ?? 0) > 0) intact += 1;
      }
      for (const round of rounds) {
        if (finished.get(id)!.includes(round.id)) continue;
        if (round.state === "failed") {
          failedAfter += 1;
          if (round.error?.code) failedCodes.add(round.error.code);
        } else if (round.state !== "finished") leftRunning += 1;
      }
    }
    const next = await sendRound(restarted, sessions[0]!, "after the restart");
    return [
      `${committed} rounds seen finished before the kill, ${intact} intact after the restart`,
      `${cutShort.length} callers cut short (${[...new Set(cutShort)].join(", ")}); ${failedAfter} rounds marked failed (${[...failedCodes].join(", ") || "-"}), ${leftRunning} left unfinished`,
      `a round sent right after the restart: ${describeAnswer(atOnce)}; after the lease lapsed (${LEASE_SECONDS} s): ${describeAnswer(next)}`,
      `integrity: ${integrity()}`,
    ];
  } finally {
    await stopServer(restarted);
  }
  void store;
}

/** SQLite on a small tmpfs, filled while the server runs. */
async function fullDisk(appDir: string): Promise<string[]> {
  const mount = mkdtempSync(join(tmpdir(), "tw-faults-disk-"));
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mount], { encoding: "utf8" });
  if (mounted.status !== 0) {
    rmSync(mount, { recursive: true, force: true });
    return [`skipped: could not mount a tmpfs (${mounted.stderr.trim()}; needs root)`];
  }
  const database = join(mount, "api.sqlite");
  const config = [`api.database_path=${database}`];
  let server: Server | undefined;
  try {
    server = await startServer(appDir, config);
    const session = await createSession(server);
    const before: string[] = [];
    for (let round = 0; round < 3; round += 1) {
      const answer = await sendRound(server, session, `before (${round})`);
      if (answer.state === "finished" && answer.id) before.push(answer.id);
    }
    // Fill what is left (dd stops at ENOSPC).
    spawnSync("dd", ["if=/dev/zero", `of=${join(mount, "filler")}`, "bs=64k", "status=none"]);
    const whileFull: string[] = [];
    for (let round = 0; round < 3; round += 1)
      whileFull.push(describeAnswer(await sendRound(server, session, `full (${round})`)));
    const newSession = await fetch(`${server.url}/sessions`, { method: "POST" });
    const newSessionText = `${newSession.status} ${((await newSession.json().catch(() => ({}))) as { error?: { code?: string } }).error?.code ?? ""}`;
    rmSync(join(mount, "filler"));
    const afterFreed = describeAnswer(await sendRound(server, session, "freed"));
    await stopServer(server);
    server = await startServer(appDir, config);
    const rounds = await listRounds(server, session);
    const intact = before.filter((id) =>
      rounds.some((round) => round.id === id && round.state === "finished"),
    ).length;
    const states = rounds.filter((round) => !before.includes(round.id)).map((round) => round.state);
    return [
      `while full: rounds ${[...new Set(whileFull)].join("; ")}; new session ${newSessionText}`,
      `after freeing: ${afterFreed}; after a restart ${intact} of ${before.length} earlier rounds intact, later rounds ${states.join(", ") || "-"}; integrity: ${sqliteIntegrity(database)}`,
    ];
  } finally {
    if (server) await stopServer(server);
    spawnSync("umount", [mount]);
    rmSync(mount, { recursive: true, force: true });
  }
}

/** A lock held by another process for `holdMs`; rounds and reads meanwhile. */
async function locked(
  appDir: string,
  config: string[],
  hold: (holdMs: number) => ChildProcess,
  integrity: () => string,
): Promise<string[]> {
  const server = await startServer(appDir, config);
  try {
    const session = await createSession(server);
    const first = await sendRound(server, session, "before the lock");
    // Longer than SQLite's busy timeout (5 s) and PostgreSQL's lock_timeout (10 s).
    const holdMs = 15_000;
    const holder = hold(holdMs);
    const holderDone = new Promise((resolve) => holder.on("close", resolve));
    // The holder says "locked" once it holds the lock.
    await new Promise<void>((resolve) => {
      let text = "";
      holder.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
        text += chunk;
        if (text.includes("locked")) resolve();
      });
      holder.on("close", () => resolve());
    });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const duringRound = sendRound(server, session, "while locked", 20_000);
    // A read of another kind at the same time: does the lock hold up the whole server?
    await new Promise((resolve) => setTimeout(resolve, 500));
    const readStarted = performance.now();
    const read = await fetch(`${server.url}/sessions`).then(
      async (response) =>
        `${response.status}${response.status === 200 ? "" : ` ${(await response.text()).slice(0, 120)}`}`,
      (error: unknown) => `no answer (${String(error)})`,
    );
    const readMs = performance.now() - readStarted;
    const during = await duringRound;
    await holderDone;
    const after = await sendRound(server, session, "after the lock");
    const rounds = await listRounds(server, session);
    return [
      `lock held ${holdMs / 1000} s; a round sent 1 s after it was taken: ${describeAnswer(during)} after ${(during.ms / 1000).toFixed(1)} s; a session list 0.5 s later: ${read} after ${(readMs / 1000).toFixed(1)} s`,
      `before: ${describeAnswer(first)}; after the lock: ${describeAnswer(after)}; rounds stored: ${rounds.map((round) => round.state).join(", ")}; integrity: ${integrity()}`,
    ];
  } finally {
    await stopServer(server);
  }
}

function startPostgres(directory: string): string | undefined {
  const result = spawnSync("bash", [join(REPO_ROOT, "scripts/postgres.sh")], {
    encoding: "utf8",
    env: { ...process.env, TASKWEAVER_POSTGRES_DIR: directory },
  });
  const match = /TASKWEAVER_TEST_DATABASE_URL=['"]?([^'"\s]+)/.exec(result.stdout);
  return match?.[1];
}

export async function run(): Promise<void> {
  const model = await startFakeOpenAIServer({
    handler: () =>
      JSON.stringify({ response: { thought: "Add.", reply_type: "python", reply_content: ROUND_CODE } }),
  });
  const appDir = createTestAppDir({
    copySample: false,
    config: {
      "llm.api_base": model.url,
      "llm.api_key": "bench",
      "llm.model": "fake-model",
      "session.roles": ["code_interpreter"],
      "execution_service.local.sandbox": "none",
      "execution_service.kernel_start": "spawn",
    },
  });
  const rows: [string, Store, string[]][] = [];
  const postgresDirectory = mkdtempSync(join(tmpdir(), "tw-faults-pg-"));
  let postgresStarted = false;
  try {
    const sqlitePath = join(appDir.path, "workspace", "faults.sqlite");
    const sqliteConfig = [`api.database_path=${sqlitePath}`];
    const sqliteCheck = () => sqliteIntegrity(sqlitePath);
    const only = process.env.TASKWEAVER_BENCH_FAULTS?.split(",");
    const wanted = (name: string) => only === undefined || only.includes(name);
    if (wanted("kill"))
      rows.push([
        "kill -9 in the middle of rounds",
        "SQLite",
        await killNine("SQLite", appDir.path, sqliteConfig, sqliteCheck),
      ]);
    if (wanted("disk")) rows.push(["full disk under the database", "SQLite", await fullDisk(appDir.path)]);
    if (wanted("lock")) {
      rows.push([
        "database locked by another process",
        "SQLite",
        await locked(
          appDir.path,
          sqliteConfig,
          (holdMs) =>
            spawn(
              "python3",
              [
                "-c",
                "import sqlite3, sys, time\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\nc.execute('BEGIN EXCLUSIVE')\nprint('locked', flush=True)\ntime.sleep(float(sys.argv[2]))\nc.execute('ROLLBACK')",
                sqlitePath,
                String(holdMs / 1000),
              ],
              { stdio: ["ignore", "pipe", "ignore"] },
            ),
          sqliteCheck,
        ),
      ]);
    }

    const url = startPostgres(postgresDirectory);
    postgresStarted = url !== undefined;
    if (url === undefined) {
      rows.push(["PostgreSQL", "PostgreSQL", ["skipped: scripts/postgres.sh did not start a cluster"]]);
    } else {
      const pgConfig = [`api.database_url=${url}`];
      const pgCheck = () =>
        `${psql(url, "SELECT count(*) FROM posts p LEFT JOIN rounds r ON r.session_id = p.session_id AND r.id = p.round_id WHERE r.id IS NULL")} orphan posts, ${psql(url, "SELECT count(*) FROM rounds WHERE state NOT IN ('finished','failed')")} unfinished rounds`;
      if (wanted("kill"))
        rows.push([
          "kill -9 in the middle of rounds",
          "PostgreSQL",
          await killNine("PostgreSQL", appDir.path, pgConfig, pgCheck),
        ]);
      if (wanted("lock")) {
        rows.push([
          "database locked by another process",
          "PostgreSQL",
          await locked(
            appDir.path,
            pgConfig,
            (holdMs) => {
              // Statements on stdin run (and print) one by one; with -c psql prints after the last.
              const holder = spawn("psql", [url, "-At"], { stdio: ["pipe", "pipe", "ignore"] });
              holder.stdin!.end(
                `BEGIN;\nLOCK TABLE rounds IN ACCESS EXCLUSIVE MODE;\nSELECT 'locked';\nSELECT pg_sleep(${holdMs / 1000});\nCOMMIT;\n`,
              );
              return holder;
            },
            pgCheck,
          ),
        ]);
      }
    }
  } finally {
    if (postgresStarted) {
      spawnSync("bash", [join(REPO_ROOT, "scripts/postgres.sh"), "stop"], {
        env: { ...process.env, TASKWEAVER_POSTGRES_DIR: postgresDirectory },
        stdio: "ignore",
      });
    }
    rmSync(postgresDirectory, { recursive: true, force: true });
    await model.close();
    appDir.remove();
  }
  const lines = ["| fault | store | what happened |", "| --- | --- | --- |"];
  for (const [fault, store, findings] of rows)
    lines.push(`| ${fault} | ${store} | ${findings.join("<br>")} |`);
  console.log(`\n${lines.join("\n")}\n`);
  writeFileSync(join(tmpdir(), "taskweaver-api-faults.md"), `${lines.join("\n")}\n`);
}
