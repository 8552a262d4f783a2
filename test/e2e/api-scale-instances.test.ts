// Three API processes on one PostgreSQL database and one Jupyter server (remote kernels), as a
// load balancer would spread requests over them: any instance answers for any session, a round
// runs on one instance only, its events reach every instance, its kernel outlives the instance,
// and a `kill -9` of the instance running a round is noticed by the others.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseServerSentEvents, type ServerSentEvent } from "@taskweaver/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createTestAppDir,
  plannerAnswer,
  plannerRound,
  pythonAnswer,
  startFakeOpenAIServer,
  type FakeOpenAIServer,
  type TestAppDir,
} from "../src/index.js";
import {
  createTestDatabaseSchema,
  startApiProcess,
  testDatabaseUnavailableReason,
  type ApiProcess,
  type TestDatabaseSchema,
} from "../src/api-process.js";
import {
  jupyterServerUnavailableReason,
  startJupyterServer,
  type JupyterServer,
} from "../src/jupyter-server.js";

const CI = process.env.CI === "true";
const unavailableReason = jupyterServerUnavailableReason() ?? (await testDatabaseUnavailableReason());
const runOrFail = unavailableReason === undefined || CI;
/** `api.instance_lost_timeout` of the instances, in seconds. */
const LOST_TIMEOUT_S = 3;

let model: FakeOpenAIServer;
let jupyter: JupyterServer | undefined;
let appDir: TestAppDir;
let database: TestDatabaseSchema | undefined;
const instances: ApiProcess[] = [];
let a: ApiProcess;
let b: ApiProcess;
let c: ApiProcess;
let start: (name: string) => Promise<ApiProcess>;

beforeAll(async () => {
  if (!runOrFail) return;
  if (unavailableReason !== undefined)
    throw new Error(`These tests need a Jupyter server and PostgreSQL: ${unavailableReason}`);
  model = await startFakeOpenAIServer({ chunkSize: 64 });
  jupyter = await startJupyterServer();
  // One app directory: the instances share its workspace (uploads), as pods share a volume.
  appDir = createTestAppDir({
    config: { "llm.api_base": model.url, "llm.api_key": "test-key", "llm.model": "fake-model" },
  });
  database = createTestDatabaseSchema("api_scale_e2e");
  start = (name: string) =>
    startApiProcess({
      appDir: appDir.path,
      env: { API_DATABASE_URL: database!.url },
      config: {
        "api.database_schema": database!.schema,
        "api.instance_id": name,
        "api.instance_lost_timeout": LOST_TIMEOUT_S,
        "api.shutdown_grace_period": 2,
        "execution_service.kernel_mode": "remote",
        "execution_service.remote.url": jupyter!.url,
        "execution_service.remote.token": jupyter!.token,
      },
    });
  // One after the other: the first applies the schema's migrations.
  for (const name of ["instance-a", "instance-b", "instance-c"]) instances.push(await start(name));
  [a, b, c] = instances as [ApiProcess, ApiProcess, ApiProcess];
}, 180_000);

afterAll(async () => {
  await Promise.all(instances.map((instance) => instance.stop()));
  await jupyter?.close();
  await model?.close();
  await database?.drop();
  appDir?.remove();
}, 90_000);

const api = (instance: ApiProcess, path: string) => `${instance.url}/api/v1${path}`;
const post = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});

/** An SSE answer read as it arrives. */
function readEvents(response: Promise<Response>) {
  const events: ServerSentEvent[] = [];
  const waiters: (() => void)[] = [];
  const done = (async () => {
    const answer = await response;
    expect(answer.status).toBe(200);
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of answer.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      const end = buffer.lastIndexOf("\n\n");
      if (end < 0) continue;
      events.push(...parseServerSentEvents(buffer.slice(0, end + 2)));
      buffer = buffer.slice(end + 2);
      for (const wake of waiters.splice(0)) wake();
    }
    events.push(...parseServerSentEvents(buffer));
    for (const wake of waiters.splice(0)) wake();
    return events;
  })();
  done.catch(() => {});
  const until = async (predicate: (event: ServerSentEvent) => boolean, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = events.find(predicate);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(`no such event in ${JSON.stringify(events.map((e) => e.event))}`);
      await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), done, delay(200)]);
    }
  };
  return { events, done, until };
}

/** The server's kernels, for failure messages. */
async function kernels(): Promise<string> {
  const answer = await fetch(`${jupyter!.url}api/kernels`, {
    headers: { authorization: `token ${jupyter!.token}` },
  });
  return `kernels: ${await answer.text()}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const printed = (marker: string) => (event: ServerSentEvent) =>
  event.event === "execution-output" && event.data.includes(marker);

describe.skipIf(!runOrFail)("three API instances on one PostgreSQL database with remote kernels", () => {
  let sessionId: string;

  it("creates a session on A, streams a round from B, refuses on C, follows from C and interrupts from A", async () => {
    const created = await fetch(api(a, "/sessions"), { method: "POST" });
    expect(created.status).toBe(201);
    sessionId = ((await created.json()) as { id: string }).id;

    // An interrupted round asks the model twice (Planner, then the code), never a third time.
    model.enqueue(
      plannerAnswer("CodeInterpreter", "Please run the code."),
      pythonAnswer('x = 41\nimport time\nprint("sleeping now", flush=True)\ntime.sleep(30)'),
    );
    const startedAt = Date.now();
    const onB = readEvents(
      fetch(
        api(b, `/sessions/${sessionId}/messages`),
        post({ message: "set x, then wait" }, { accept: "text/event-stream" }),
      ),
    );
    await onB.until(printed("sleeping now"));

    const refused = await fetch(api(c, `/sessions/${sessionId}/messages`), post({ message: "me too" }));
    expect(refused.status).toBe(409);
    const refusal = ((await refused.json()) as { error: { code: string; message: string } }).error;
    expect(refusal.code).toBe("round_in_progress");
    // It says where the round runs and what happens if that instance is gone.
    expect(refusal.message).toMatch(/on another instance.*api\.instance_lost_timeout/);
    const state = (await (await fetch(api(a, `/sessions/${sessionId}`))).json()) as { state: string };
    expect(state.state).toBe("running");

    // C replays after the first event and follows the rest live, while the round runs on B.
    const onC = readEvents(
      fetch(api(c, `/sessions/${sessionId}/events`), {
        headers: { accept: "text/event-stream", "last-event-id": "1" },
      }),
    );
    await onC.until(printed("sleeping now"));

    const interrupted = await fetch(api(a, `/sessions/${sessionId}/interrupt`), { method: "POST" });
    expect(await interrupted.json()).toEqual({ interrupted: true });
    const fromB = await onB.done;
    expect(Date.now() - startedAt).toBeLessThan(25_000);
    expect(["round-end", "round-error"]).toContain(fromB.at(-1)!.event);
    const fromC = await onC.done;
    const strip = (events: ServerSentEvent[]) => events.map(({ id, event, data }) => ({ id, event, data }));
    expect(strip(fromC)).toEqual(strip(fromB.filter((event) => Number(event.id) > 1)));
  }, 120_000);

  it("runs the next round on C on the same kernel (variables kept) with a file uploaded through A", async () => {
    const form = new FormData();
    form.append("file", new File(["from the upload"], "note.txt", { type: "text/plain" }));
    expect((await fetch(api(a, `/sessions/${sessionId}/files`), { method: "POST", body: form })).status).toBe(
      201,
    );

    model.enqueue(...plannerRound('print("x + 1 =", x + 1, "|", open("note.txt").read())'));
    const answer = await fetch(
      api(c, `/sessions/${sessionId}/messages`),
      post({ message: "use x and the note", files: ["note.txt"] }),
    );
    expect(answer.status).toBe(200);
    const round = (await answer.json()) as { state: string };
    expect(round.state, `${JSON.stringify(round)}\n${await kernels()}\n${c.output()}`).toBe("finished");
    const text = JSON.stringify(round);
    expect(text).toContain("x + 1 = 42 | from the upload");
    expect(text).not.toContain("NameError");
    // The model was not told of a fresh kernel: the kernel is the same.
    const last = model.requests.at(-3)!;
    expect(JSON.stringify(last.body)).not.toContain(
      "Variables, imports and data loaded in earlier rounds are gone",
    );
  }, 120_000);

  it("reports instance_lost on another instance after kill -9 of the one running the round, and carries on", async () => {
    model.enqueue(
      plannerAnswer("CodeInterpreter", "Please run the code."),
      pythonAnswer('import time\nprint("sleeping a minute", flush=True)\ntime.sleep(60)'),
    );
    const onB = readEvents(
      fetch(
        api(b, `/sessions/${sessionId}/messages`),
        post({ message: "sleep a minute" }, { accept: "text/event-stream" }),
      ),
    );
    await onB.until(printed("sleeping a minute"));
    const lastSeen = Math.max(...onB.events.map((event) => Number(event.id)));

    const killedAt = Date.now();
    await b.kill();
    const onA = readEvents(
      fetch(api(a, `/sessions/${sessionId}/events`), {
        headers: { accept: "text/event-stream", "last-event-id": String(lastSeen) },
      }),
    );
    const lost = await onA.until((event) => event.event === "round-error", 30_000);
    const noticedAfterMs = Date.now() - killedAt;
    // The lease lapses at most LOST_TIMEOUT_S after the kill; the sweeper looks every tenth of it.
    expect(noticedAfterMs).toBeLessThan(LOST_TIMEOUT_S * 1000 + 1_500);
    expect(JSON.parse(lost.data)).toMatchObject({
      error: { code: "instance_lost" },
      round: { state: "failed" },
    });
    await onA.done;

    // The kernel was interrupted out of the lost round and keeps x.
    model.enqueue(...plannerRound('print("x is", x)'));
    const next = await fetch(api(a, `/sessions/${sessionId}/messages`), post({ message: "still there?" }));
    const round = (await next.json()) as { state: string };
    expect(round.state, `${JSON.stringify(round)}\n${await kernels()}\n${a.output()}`).toBe("finished");
    expect(JSON.stringify(round)).toContain("x is 41");

    const detail = (await (await fetch(api(c, `/sessions/${sessionId}`))).json()) as {
      rounds: { user_query: string; state: string; error: { code: string } | null; post_list: unknown[] }[];
    };
    expect(detail.rounds.map((item) => [item.user_query, item.state, item.error?.code ?? null])).toEqual([
      ["set x, then wait", "failed", expect.any(String)],
      ["use x and the note", "finished", null],
      ["sleep a minute", "failed", "instance_lost"],
      ["still there?", "finished", null],
    ]);
    // The lost round keeps the posts it had finished (the Planner's).
    expect(detail.rounds[2]!.post_list.length).toBeGreaterThan(0);
    expect(detail.rounds[1]!.post_list.length).toBeGreaterThan(0);
    expect(readFileSync(join(appDir.path, "taskweaver_config.json"), "utf8")).toContain("fake-model");
  }, 120_000);

  it("keeps the session's kernel, with its variables, over a graceful restart of an instance", async () => {
    await c.stop();
    c = await start("instance-c");
    instances.push(c);
    model.enqueue(...plannerRound('print("after the restart x =", x)'));
    const answer = await fetch(api(c, `/sessions/${sessionId}/messages`), post({ message: "after restart" }));
    const round = (await answer.json()) as { state: string };
    expect(round.state, `${JSON.stringify(round)}\n${await kernels()}`).toBe("finished");
    expect(JSON.stringify(round)).toContain("after the restart x = 41");
    // One kernel for the session, however many instances touched it.
    const listed = JSON.parse((await kernels()).slice("kernels: ".length)) as unknown[];
    expect(listed).toHaveLength(1);
  }, 120_000);
});
