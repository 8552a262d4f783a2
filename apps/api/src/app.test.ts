import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createApi, type ApiApp, type ApiDependencies } from "./app.js";
import { quoteIdentifier } from "./store/internal/postgres-migrations.js";
import { createPostgresSessionStore } from "./store/postgres-session-store.js";
import type { SessionStore } from "./store/session-store.js";
import { StoreUnavailableError, maskDatabaseUrl } from "./store/store-errors.js";
import { createSqliteSessionStore } from "./store/sqlite-session-store.js";
import { createFakeSessionHost, parseSse, type FakeSessionHost } from "./testing/fake-session-host.js";

interface Harness {
  app: ApiApp;
  host: FakeSessionHost;
  store: SessionStore;
  databasePath: string;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * The suite runs once per store. A test's database is named by a path: the SQLite file, or for
 * PostgreSQL a schema of its own derived from that path (so a "restart" reopens the same data).
 */
interface StoreKind {
  name: string;
  /** Why the store cannot be tested here; under CI=true that fails the suite. */
  unavailableReason?: string;
  open(databasePath: string): Promise<SessionStore>;
  /** Everything the store keeps, as text, to look for secrets in. */
  storedText(databasePath: string): Promise<string>;
}

const databaseUrl = process.env.TASKWEAVER_TEST_DATABASE_URL;
const runId = randomBytes(3).toString("hex");
const schemas = new Set<string>();
const schemaFor = (databasePath: string) =>
  `api_test_${runId}_${createHash("sha256").update(databasePath).digest("hex").slice(0, 12)}`;

async function withDatabase<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function postgresUnavailableReason(): Promise<string | undefined> {
  const howTo = 'start one with: eval "$(bash scripts/postgres.sh)"';
  if (!databaseUrl) return `TASKWEAVER_TEST_DATABASE_URL is not set; ${howTo}`;
  try {
    await withDatabase((client) => client.query("SELECT 1"));
    return undefined;
  } catch (error) {
    return `PostgreSQL at ${maskDatabaseUrl(databaseUrl)} does not answer (${String(error)}); ${howTo}`;
  }
}

const STORE_KINDS: StoreKind[] = [
  {
    name: "SQLite",
    open: (databasePath) => Promise.resolve(createSqliteSessionStore({ path: databasePath })),
    storedText: (databasePath) => Promise.resolve(readFileSync(databasePath).toString("latin1")),
  },
  {
    name: "PostgreSQL",
    unavailableReason: await postgresUnavailableReason(),
    open: (databasePath) => {
      const schema = schemaFor(databasePath);
      schemas.add(schema);
      return createPostgresSessionStore({ url: databaseUrl!, schema, maxConnections: 4 });
    },
    storedText: (databasePath) =>
      withDatabase(async (client) => {
        const schema = schemaFor(databasePath);
        const tables = await client.query<{ table_name: string }>(
          "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
          [schema],
        );
        let text = "";
        for (const { table_name } of tables.rows) {
          const rows = await client.query<{ row: string }>(
            `SELECT t::text AS row FROM ${quoteIdentifier(schema)}.${quoteIdentifier(table_name)} t`,
          );
          text += rows.rows.map((row) => row.row).join("\n");
        }
        return text;
      }),
  },
];

afterAll(async () => {
  if (schemas.size === 0) return;
  await withDatabase(async (client) => {
    for (const schema of schemas)
      await client.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`);
  });
});

let kind: StoreKind = STORE_KINDS[0]!;
const openStore = (databasePath: string) => kind.open(databasePath);

async function setup(
  options: Partial<ApiDependencies> & { host?: FakeSessionHost; databasePath?: string } = {},
): Promise<Harness> {
  const host = options.host ?? createFakeSessionHost();
  const databasePath = options.databasePath ?? join(host.appDir, "workspace", "taskweaver-api.sqlite");
  const store = options.store ?? (await openStore(databasePath));
  const app = createApi({ apiKeys: [], logRequest: () => {}, ...options, taskWeaver: host, store });
  cleanups.push(async () => {
    await app.shutdown(0);
    // A store the test passed in belongs to the test.
    if (!options.store) await store.close();
  });
  if (!options.host) cleanups.unshift(() => host.remove());
  return { app, host, store, databasePath };
}

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: typeof body === "string" ? body : JSON.stringify(body),
});

async function createSession(app: ApiApp, headers: Record<string, string> = {}): Promise<string> {
  const response = await app.request("/api/v1/sessions", { method: "POST", headers });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

async function expectError(
  response: Response,
  status: number,
  code: string,
): Promise<{ message: string; details?: { field: string }[] }> {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toContain("application/json");
  const body = (await response.json()) as {
    error: { code: string; message: string; details?: { field: string }[] };
  };
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(0);
  return body.error;
}

const CI = process.env.CI === "true";

describe.each(STORE_KINDS)("with the $name store", (storeKind) => {
  const missing = storeKind.unavailableReason;
  if (missing && CI) {
    it("has its database", () => {
      throw new Error(`The ${storeKind.name} store cannot be tested: ${missing}`);
    });
    return;
  }
  if (missing) {
    it.skip(`(skipped: ${missing})`, () => {});
    return;
  }
  beforeAll(() => {
    kind = storeKind;
  });

  describe("sessions", () => {
    it("creates, lists, shows and deletes a session", async () => {
      const { app, host } = await setup();
      const created = await app.request("/api/v1/sessions", { method: "POST" });
      expect(created.status).toBe(201);
      const session = (await created.json()) as {
        id: string;
        created_at: string;
        roles: string[];
        state: string;
      };
      expect(session).toMatchObject({ roles: ["Planner", "CodeInterpreter"], state: "idle" });
      expect(Date.parse(session.created_at)).not.toBeNaN();

      const list = (await (await app.request("/api/v1/sessions")).json()) as { sessions: { id: string }[] };
      expect(list.sessions.map((item) => item.id)).toEqual([session.id]);

      const detail = await app.request(`/api/v1/sessions/${session.id}`);
      expect(detail.status).toBe(200);
      expect(await detail.json()).toMatchObject({ id: session.id, rounds: [] });

      const workingDirectory = join(host.appDir, "workspace", "sessions", session.id, "cwd");
      expect(existsSync(workingDirectory)).toBe(true);
      const deleted = await app.request(`/api/v1/sessions/${session.id}`, { method: "DELETE" });
      expect(deleted.status).toBe(204);
      expect(host.stoppedSessions).toEqual([session.id]);
      expect(existsSync(workingDirectory)).toBe(false);
      await expectError(await app.request(`/api/v1/sessions/${session.id}`), 404, "not_found");
    });

    it("accepts an empty JSON object but no unknown fields when creating a session", async () => {
      const { app } = await setup();
      expect((await app.request("/api/v1/sessions", json({}))).status).toBe(201);
      const error = await expectError(
        await app.request("/api/v1/sessions", json({ model: "x" })),
        422,
        "validation_failed",
      );
      expect(error.message).toContain('"model"');
    });

    it("answers 429 when every session slot is running a round, and reuses idle slots", async () => {
      const { app, host } = await setup({ limits: { maxSessions: 1 } });
      const first = await createSession(app);
      // The idle first session gives its kernel up for the second one.
      const second = await createSession(app);
      expect(host.stoppedSessions).toEqual([first]);
      const running = app.request(`/api/v1/sessions/${second}/messages`, json({ message: "slow" }));
      await waitFor(() => app.sessions.activeRun(second) !== undefined);
      await expectError(
        await app.request("/api/v1/sessions", { method: "POST" }),
        429,
        "session_limit_reached",
      );
      await app.request(`/api/v1/sessions/${second}/interrupt`, { method: "POST" });
      expect((await running).status).toBe(200);
    });
  });

  describe("rounds", () => {
    it("returns the finished round as JSON and stores it with its posts", async () => {
      const { app } = await setup();
      const id = await createSession(app);
      const response = await app.request(`/api/v1/sessions/${id}/messages`, json({ message: "count rows" }));
      expect(response.status).toBe(200);
      const round = (await response.json()) as {
        id: string;
        state: string;
        error: unknown;
        post_list: { send_from: string; message: string }[];
      };
      expect(round.state).toBe("finished");
      expect(round.error).toBeNull();
      expect(round.post_list.map((post) => post.send_from)).toEqual(["User", "Planner"]);
      expect(round.post_list[1]!.message).toBe("Done: count rows");

      const detail = (await (await app.request(`/api/v1/sessions/${id}`)).json()) as {
        rounds: { id: string; state: string; post_list: unknown[]; finished_at: string }[];
      };
      expect(detail.rounds).toHaveLength(1);
      expect(detail.rounds[0]).toMatchObject({ id: round.id, state: "finished", post_list: round.post_list });
      expect(detail.rounds[0]!.finished_at).toBeTruthy();
    });

    it("streams the round's events as SSE with increasing ids, ending with the round", async () => {
      const { app } = await setup();
      const id = await createSession(app);
      const response = await app.request(
        `/api/v1/sessions/${id}/messages`,
        json({ message: "hello" }, { accept: "text/event-stream" }),
      );
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("text/event-stream");
      const events = parseSse(await response.text());
      const types = events.map((event) => event.event);
      expect(types[0]).toBe("round-start");
      expect(types.at(-1)).toBe("round-end");
      expect(types).toContain("post-delta");
      expect(types).toContain("execution-output");
      const ids = events.map((event) => Number(event.id));
      expect(ids).toEqual(ids.map((_, index) => index + 1));
      const last = JSON.parse(events.at(-1)!.data) as { type: string; round: { state: string } };
      expect(last.round.state).toBe("finished");

      // A second round continues the numbering.
      const again = parseSse(
        await (
          await app.request(
            `/api/v1/sessions/${id}/messages`,
            json({ message: "again" }, { accept: "text/event-stream" }),
          )
        ).text(),
      );
      expect(Number(again[0]!.id)).toBe(ids.length + 1);
    });

    it("reports a failed round with its error, in JSON and as the last SSE event", async () => {
      const { app } = await setup();
      const id = await createSession(app);
      const round = (await (
        await app.request(`/api/v1/sessions/${id}/messages`, json({ message: "fail" }))
      ).json()) as { state: string; error: { code: string } };
      expect(round.state).toBe("failed");
      expect(round.error.code).toBe("llm_response_error");
      const events = parseSse(
        await (
          await app.request(
            `/api/v1/sessions/${id}/messages`,
            json({ message: "fail" }, { accept: "text/event-stream" }),
          )
        ).text(),
      );
      expect(events.at(-1)!.event).toBe("round-error");
      const detail = (await (await app.request(`/api/v1/sessions/${id}`)).json()) as {
        rounds: { state: string; error: { code: string } }[];
      };
      expect(detail.rounds.map((item) => [item.state, item.error.code])).toEqual([
        ["failed", "llm_response_error"],
        ["failed", "llm_response_error"],
      ]);
    });

    it("reports a kernel that cannot start as a failed round, with the core's round-start and round-error", async () => {
      const { app } = await setup();
      const id = await createSession(app);
      const events = parseSse(
        await (
          await app.request(
            `/api/v1/sessions/${id}/messages`,
            json({ message: "throw" }, { accept: "text/event-stream" }),
          )
        ).text(),
      );
      expect(events.map((event) => event.event)).toEqual(["round-start", "round-error"]);
      expect(JSON.parse(events[1]!.data)).toMatchObject({
        error: { code: "executor_unavailable" },
        round: { state: "failed" },
      });
    });

    it("answers 409 with the core's code when the session rejects a message before the round began", async () => {
      const { app, store } = await setup();
      const id = await createSession(app);
      const error = await expectError(
        await app.request(
          `/api/v1/sessions/${id}/messages`,
          json({ message: "reject" }, { accept: "text/event-stream" }),
        ),
        409,
        "session_stopped",
      );
      expect(error.message).toContain("stopped");
      expect(await store.listRounds(id)).toEqual([]);
      expect(app.sessions.activeRun(id)).toBeUndefined();
      const next = await app.request(`/api/v1/sessions/${id}/messages`, json({ message: "hello" }));
      expect(((await next.json()) as { state: string }).state).toBe("finished");
    });

    it("refuses a second message while a round runs (409), and interrupting ends the first", async () => {
      const { app } = await setup();
      const id = await createSession(app);
      const first = app.request(`/api/v1/sessions/${id}/messages`, json({ message: "slow" }));
      await waitFor(() => app.sessions.activeRun(id) !== undefined);
      expect(((await (await app.request(`/api/v1/sessions/${id}`)).json()) as { state: string }).state).toBe(
        "running",
      );
      await expectError(
        await app.request(`/api/v1/sessions/${id}/messages`, json({ message: "second" })),
        409,
        "round_in_progress",
      );
      const interrupted = await app.request(`/api/v1/sessions/${id}/interrupt`, { method: "POST" });
      expect(await interrupted.json()).toEqual({ interrupted: true });
      const round = (await (await first).json()) as { state: string; error: { code: string } };
      expect(round).toMatchObject({ state: "failed", error: { code: "aborted" } });
      expect(
        await (await app.request(`/api/v1/sessions/${id}/interrupt`, { method: "POST" })).json(),
      ).toEqual({
        interrupted: false,
      });
      // The session takes messages again.
      expect(
        (
          (await (await app.request(`/api/v1/sessions/${id}/messages`, json({ message: "ok" }))).json()) as {
            state: string;
          }
        ).state,
      ).toBe("finished");
    });

    it("keeps a quiet event stream alive with comment lines", async () => {
      const { app } = await setup({ heartbeatMs: 50 });
      const id = await createSession(app);
      const streaming = app.request(
        `/api/v1/sessions/${id}/messages`,
        json({ message: "slow" }, { accept: "text/event-stream" }),
      );
      setTimeout(() => void app.request(`/api/v1/sessions/${id}/interrupt`, { method: "POST" }), 400);
      const text = await (await streaming).text();
      expect(text.split(": keep-alive\n\n").length - 1).toBeGreaterThanOrEqual(3);
      expect(parseSse(text).at(-1)!.event).toBe("round-error");
    });

    it("replays missed events after Last-Event-ID and follows a running round to its end", async () => {
      const { app } = await setup();
      const id = await createSession(app);
      const all = parseSse(
        await (
          await app.request(
            `/api/v1/sessions/${id}/messages`,
            json({ message: "one" }, { accept: "text/event-stream" }),
          )
        ).text(),
      );
      const replay = parseSse(
        await (
          await app.request(`/api/v1/sessions/${id}/events`, {
            headers: { accept: "text/event-stream", "last-event-id": "3" },
          })
        ).text(),
      );
      expect(replay.map((event) => event.id)).toEqual(all.slice(3).map((event) => event.id));
      expect(replay.map((event) => event.data)).toEqual(all.slice(3).map((event) => event.data));

      // Follow a round that is still running: the stream ends with its last event.
      const running = app.request(`/api/v1/sessions/${id}/messages`, json({ message: "slow" }));
      await waitFor(() => app.sessions.activeRun(id) !== undefined);
      const following = app.request(`/api/v1/sessions/${id}/events?after=${all.length}`, {
        headers: { accept: "text/event-stream" },
      });
      setTimeout(() => void app.request(`/api/v1/sessions/${id}/interrupt`, { method: "POST" }), 100);
      const followed = parseSse(await (await following).text());
      expect(followed[0]!.event).toBe("round-start");
      expect(Number(followed[0]!.id)).toBe(all.length + 1);
      expect(followed.at(-1)!.event).toBe("round-error");
      await running;

      const asJson = (await (
        await app.request(`/api/v1/sessions/${id}/events?after=${all.length - 1}`)
      ).json()) as { events: { id: number; event: { type: string } }[] };
      expect(asJson.events[0]).toMatchObject({ id: all.length, event: { type: "round-end" } });
      await expectError(
        await app.request(`/api/v1/sessions/${id}/events`, { headers: { "last-event-id": "abc" } }),
        400,
        "invalid_last_event_id",
      );
    });
  });

  describe("bad input", () => {
    it("answers malformed JSON with 400 and stores nothing", async () => {
      const { app, store } = await setup();
      const id = await createSession(app);
      await expectError(
        await app.request(`/api/v1/sessions/${id}/messages`, json("{not json")),
        400,
        "invalid_json",
      );
      expect(await store.listRounds(id)).toEqual([]);
      expect(await store.listEvents(id, 0)).toEqual([]);
    });

    it("names the field of a wrong type, an unknown field and a missing message", async () => {
      const { app, store, host } = await setup();
      const id = await createSession(app);
      const wrongType = await expectError(
        await app.request(`/api/v1/sessions/${id}/messages`, json({ message: 42 })),
        422,
        "validation_failed",
      );
      expect(wrongType.details?.map((detail) => detail.field)).toEqual(["message"]);
      const wrongFiles = await expectError(
        await app.request(`/api/v1/sessions/${id}/messages`, json({ message: "x", files: [1] })),
        422,
        "validation_failed",
      );
      expect(wrongFiles.message).toContain("files.0");
      const unknown = await expectError(
        await app.request(`/api/v1/sessions/${id}/messages`, json({ message: "x", temperature: 1 })),
        422,
        "validation_failed",
      );
      expect(unknown.message).toContain('"temperature"');
      const missing = await expectError(
        await app.request(`/api/v1/sessions/${id}/messages`, json({})),
        422,
        "validation_failed",
      );
      expect(missing.details?.[0]?.field).toBe("message");
      await expectError(
        await app.request(`/api/v1/sessions/${id}/messages`, json({ message: "   " })),
        422,
        "validation_failed",
      );
      await expectError(
        await app.request(`/api/v1/sessions/${id}/messages`, json({ message: "x", files: ["nope.csv"] })),
        422,
        "unknown_file",
      );
      expect(await store.listRounds(id)).toEqual([]);
      expect(host.messages).toEqual([]);
    });

    it("answers a message over the length limit with 422 message_too_long", async () => {
      const { app, store } = await setup({ limits: { maxMessageChars: 10 } });
      const id = await createSession(app);
      await expectError(
        await app.request(`/api/v1/sessions/${id}/messages`, json({ message: "x".repeat(11) })),
        422,
        "message_too_long",
      );
      expect(await store.listRounds(id)).toEqual([]);
    });

    it("answers an oversize body with 413 and stores nothing", async () => {
      const { app, store } = await setup({ limits: { maxBodyBytes: 100, maxUploadBytes: 300 } });
      const id = await createSession(app);
      await expectError(
        await app.request(`/api/v1/sessions/${id}/messages`, json({ message: "x".repeat(200) })),
        413,
        "payload_too_large",
      );
      const form = new FormData();
      form.append("file", new File(["x".repeat(400)], "big.csv"));
      await expectError(
        await app.request(`/api/v1/sessions/${id}/files`, { method: "POST", body: form }),
        413,
        "payload_too_large",
      );
      expect(await store.listRounds(id)).toEqual([]);
      expect(await (await app.request(`/api/v1/sessions/${id}/files`)).json()).toEqual({ files: [] });
    });

    it("answers unknown sessions and routes with 404 JSON", async () => {
      const { app } = await setup();
      await expectError(await app.request("/api/v1/sessions/session-missing"), 404, "not_found");
      await expectError(
        await app.request("/api/v1/sessions/session-missing/messages", json({ message: "x" })),
        404,
        "not_found",
      );
      await expectError(await app.request("/api/v1/sessions/session-missing/files/a.csv"), 404, "not_found");
      await expectError(await app.request("/api/v1/nothing-here"), 404, "not_found");
    });
  });

  describe("files", () => {
    it("uploads several files, lists them and downloads them with their content type", async () => {
      const { app, host } = await setup();
      const id = await createSession(app);
      const form = new FormData();
      form.append("file", new File(["a,b\n1,2\n"], "data.csv", { type: "text/csv" }));
      form.append("file", new File([new Uint8Array([137, 80, 78, 71])], "chart.png"));
      const uploaded = await app.request(`/api/v1/sessions/${id}/files`, { method: "POST", body: form });
      expect(uploaded.status).toBe(201);
      expect(await uploaded.json()).toEqual({
        files: [
          { name: "data.csv", size: 8 },
          { name: "chart.png", size: 4 },
        ],
      });
      const csv = await app.request(`/api/v1/sessions/${id}/files/data.csv`);
      expect(csv.headers.get("content-type")).toBe("text/csv; charset=utf-8");
      expect(await csv.text()).toBe("a,b\n1,2\n");
      const png = await app.request(`/api/v1/sessions/${id}/files/chart.png`);
      expect(png.headers.get("content-type")).toBe("image/png");
      expect(new Uint8Array(await png.arrayBuffer())).toEqual(new Uint8Array([137, 80, 78, 71]));

      // The files reach the round as attachments.
      await app.request(
        `/api/v1/sessions/${id}/messages`,
        json({ message: "use them", files: ["data.csv"] }),
      );
      expect(host.messages.at(-1)).toBe("files added: data.csv.\nuse them");
    });

    it("serves files the code wrote, in sub-folders too", async () => {
      const { app, store } = await setup();
      const id = await createSession(app);
      await app.request(`/api/v1/sessions/${id}/messages`, json({ message: "write out.txt" }));
      const download = await app.request(`/api/v1/sessions/${id}/files/out.txt`);
      expect(download.status).toBe(200);
      expect(await download.text()).toBe("made by the code\n");
      const { mkdirSync } = await import("node:fs");
      const cwd = (await store.getSession(id))!.workingDirectory;
      mkdirSync(join(cwd, "charts"));
      writeFileSync(join(cwd, "charts", "a.svg"), "<svg/>");
      const nested = await app.request(`/api/v1/sessions/${id}/files/charts/a.svg`);
      expect(nested.headers.get("content-type")).toBe("image/svg+xml");
      expect(nested.headers.get("content-security-policy")).toBe("sandbox");
      const list = (await (await app.request(`/api/v1/sessions/${id}/files`)).json()) as {
        files: { name: string }[];
      };
      expect(list.files.map((file) => file.name)).toEqual(["charts/a.svg", "out.txt"]);
    });

    it("refuses paths that leave the working directory", async () => {
      const { app, store, host } = await setup();
      const id = await createSession(app);
      writeFileSync(join(host.appDir, "secret.txt"), "secret");
      await expectError(
        await app.request(`/api/v1/sessions/${id}/files/..%2F..%2F..%2F..%2Fsecret.txt`),
        400,
        "path_outside_workdir",
      );
      await expectError(
        await app.request(`/api/v1/sessions/${id}/files/%2Fetc%2Fpasswd`),
        400,
        "path_outside_workdir",
      );
      symlinkSync(
        join(host.appDir, "secret.txt"),
        join((await store.getSession(id))!.workingDirectory, "link.txt"),
      );
      await expectError(
        await app.request(`/api/v1/sessions/${id}/files/link.txt`),
        400,
        "path_outside_workdir",
      );
      await expectError(await app.request(`/api/v1/sessions/${id}/files/missing.csv`), 404, "file_not_found");
    });

    it("refuses bad upload names and other form fields without storing any file", async () => {
      const { app, host } = await setup();
      const id = await createSession(app);
      const form = new FormData();
      form.append("file", new File(["ok"], "good.csv"));
      form.append("file", new File(["bad"], "../escape.csv"));
      await expectError(
        await app.request(`/api/v1/sessions/${id}/files`, { method: "POST", body: form }),
        400,
        "invalid_file_name",
      );
      expect(await (await app.request(`/api/v1/sessions/${id}/files`)).json()).toEqual({ files: [] });
      expect(existsSync(join(host.appDir, "workspace", "sessions", id, "escape.csv"))).toBe(false);

      const hidden = new FormData();
      hidden.append("file", new File(["x"], ".bashrc"));
      await expectError(
        await app.request(`/api/v1/sessions/${id}/files`, { method: "POST", body: hidden }),
        400,
        "invalid_file_name",
      );
      const other = new FormData();
      other.append("upload", new File(["x"], "a.csv"));
      await expectError(
        await app.request(`/api/v1/sessions/${id}/files`, { method: "POST", body: other }),
        422,
        "validation_failed",
      );
      const text = new FormData();
      text.append("file", "just text");
      await expectError(
        await app.request(`/api/v1/sessions/${id}/files`, { method: "POST", body: text }),
        422,
        "validation_failed",
      );
      const notMultipart = await expectError(
        await app.request(`/api/v1/sessions/${id}/files`, json({ file: "x" })),
        415,
        "unsupported_media_type",
      );
      expect(notMultipart.message).toContain("multipart/form-data");
    });
  });

  describe("readiness", () => {
    it("answers ready while the store answers, and 503 with the reason when it does not, without a key", async () => {
      const { app, store } = await setup({ apiKeys: ["key-a"] });
      const ready = await app.request("/api/v1/ready");
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: "ready" });

      const failing = new Proxy(store, {
        get: (target, property, receiver) =>
          property === "ping"
            ? () =>
                Promise.reject(
                  new StoreUnavailableError("Cannot reach the session database at postgres://db", {
                    url: "postgres://db",
                  }),
                )
            : (Reflect.get(target, property, receiver) as unknown),
      });
      const broken = await setup({ store: failing, apiKeys: ["key-a"] });
      const notReady = await broken.app.request("/api/v1/ready");
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toEqual({
        status: "not_ready",
        reason: "Cannot reach the session database at postgres://db",
      });
      // Liveness does not depend on the database.
      expect((await broken.app.request("/api/v1/health")).status).toBe(200);
      await broken.app.shutdown(0);
      expect((await broken.app.request("/api/v1/ready")).status).toBe(503);
    });
  });

  describe("auth", () => {
    it("leaves health and the reference open with keys, and asks for a key before anything else", async () => {
      const { app } = await setup({ apiKeys: ["key-a"] });
      for (const path of ["/api/v1/health", "/api/v1/openapi.json", "/api/v1/docs"]) {
        expect((await app.request(path)).status).toBe(200);
      }
      await expectError(await app.request("/api/v1/nothing-here"), 401, "unauthorized");
      await expectError(await app.request("/api/v1/sessions", { method: "PUT" }), 401, "unauthorized");
      const wrongMethod = await app.request("/api/v1/sessions", {
        method: "PUT",
        headers: { authorization: "Bearer key-a" },
      });
      await expectError(wrongMethod, 405, "method_not_allowed");
      expect(wrongMethod.headers.get("allow")).toBe("POST, GET, HEAD");
    });

    it("refuses at start an API key that could not be sent as a bearer token", () => {
      const host = createFakeSessionHost();
      const store = createSqliteSessionStore({ path: ":memory:" });
      cleanups.push(async () => {
        await store.close();
        host.remove();
      });
      expect(() =>
        createApi({ taskWeaver: host, store, apiKeys: ["good-key", "bad key"], logRequest: () => {} }),
      ).toThrow(/API key number 2/);
    });

    it("requires a valid key and shows each key only its own sessions", async () => {
      const { app } = await setup({ apiKeys: ["key-a", "key-b"] });
      const a = { authorization: "Bearer key-a" };
      const b = { authorization: "Bearer key-b" };
      const missing = await app.request("/api/v1/sessions", { method: "POST" });
      await expectError(missing, 401, "unauthorized");
      expect(missing.headers.get("www-authenticate")).toContain("Bearer");
      await expectError(
        await app.request("/api/v1/sessions", { method: "POST", headers: { authorization: "Bearer wrong" } }),
        401,
        "unauthorized",
      );
      await expectError(
        await app.request("/api/v1/sessions", {
          method: "POST",
          headers: { authorization: "Basic a2V5LWE=" },
        }),
        401,
        "unauthorized",
      );

      const mine = await createSession(app, a);
      await expectError(await app.request(`/api/v1/sessions/${mine}`, { headers: b }), 404, "not_found");
      await expectError(
        await app.request(`/api/v1/sessions/${mine}/messages`, json({ message: "x" }, b)),
        404,
        "not_found",
      );
      await expectError(
        await app.request(`/api/v1/sessions/${mine}`, { method: "DELETE", headers: b }),
        404,
        "not_found",
      );
      await expectError(
        await app.request(`/api/v1/sessions/${mine}/files/x.csv`, { headers: b }),
        404,
        "not_found",
      );
      expect(await (await app.request("/api/v1/sessions", { headers: b })).json()).toEqual({ sessions: [] });
      const listed = (await (await app.request("/api/v1/sessions", { headers: a })).json()) as {
        sessions: { id: string }[];
      };
      expect(listed.sessions.map((session) => session.id)).toEqual([mine]);
      expect((await app.request(`/api/v1/sessions/${mine}`, { headers: a })).status).toBe(200);

      // Health and the reference stay open.
      expect((await app.request("/api/v1/health")).status).toBe(200);
      expect((await app.request("/api/v1/openapi.json")).status).toBe(200);
    });

    it("stores only a hash of the key", async () => {
      const { app, databasePath } = await setup({ apiKeys: ["super-secret-key"] });
      await createSession(app, { authorization: "Bearer super-secret-key" });
      expect((await kind.storedText(databasePath)).includes("super-secret-key")).toBe(false);
    });
  });

  describe("persistence and lifecycle", () => {
    it("finds sessions and rounds after a restart and tells the new kernel what was lost", async () => {
      const host = createFakeSessionHost();
      cleanups.push(() => host.remove());
      const databasePath = join(host.appDir, "api.sqlite");
      const first = await setup({ host, databasePath });
      const id = await createSession(first.app);
      await first.app.request(`/api/v1/sessions/${id}/messages`, json({ message: "write result.csv" }));
      await first.app.shutdown(0);
      await first.store.close();

      const second = await setup({ host, databasePath });
      const detail = (await (await second.app.request(`/api/v1/sessions/${id}`)).json()) as {
        state: string;
        rounds: { user_query: string; state: string }[];
      };
      expect(detail.state).toBe("stopped");
      expect(detail.rounds).toMatchObject([{ user_query: "write result.csv", state: "finished" }]);
      expect((await second.app.request(`/api/v1/sessions/${id}/files/result.csv`)).status).toBe(200);

      const next = (await (
        await second.app.request(`/api/v1/sessions/${id}/messages`, json({ message: "continue" }))
      ).json()) as { state: string };
      expect(next.state).toBe("finished");
      const revived = host.createCalls.at(-1)!;
      expect(revived.sessionId).toBe(id);
      expect(revived.rounds?.map((round) => round.user_query)).toEqual(["write result.csv"]);
      expect(revived.note).toMatch(/Variables.*gone/);
      expect(revived.note).toContain("result.csv");
      expect(host.messages.at(-1)).toMatch(/^\[Note: .*\]\ncontinue$/s);

      // Event ids continue after the restart.
      const events = (await second.store.listEvents(id, 0)).map((item) => item.seq);
      expect(events).toEqual(events.map((_, index) => index + 1));
    });

    it("marks rounds that were running when the server died as failed", async () => {
      const host = createFakeSessionHost();
      cleanups.push(() => host.remove());
      const databasePath = join(host.appDir, "api.sqlite");
      const store = await openStore(databasePath);
      await store.createSession({
        id: "s1",
        ownerKeyHash: null,
        createdAt: new Date().toISOString(),
        roles: [],
        workingDirectory: host.appDir,
      });
      await store.startRound("s1", { id: "round-1", userQuery: "q" });
      await store.close();
      const { app } = await setup({ host, databasePath });
      const detail = (await (await app.request("/api/v1/sessions/s1")).json()) as {
        rounds: { state: string; error: { code: string } }[];
      };
      expect(detail.rounds).toMatchObject([{ state: "failed", error: { code: "server_restarted" } }]);
    });

    it("stops idle kernels but keeps the session", async () => {
      const { app, host } = await setup({ limits: { sessionIdleTimeoutMs: 100 } });
      const id = await createSession(app);
      await app.request(`/api/v1/sessions/${id}/messages`, json({ message: "first" }));
      await waitFor(() => host.stoppedSessions.includes(id), 3_000);
      expect(((await (await app.request(`/api/v1/sessions/${id}`)).json()) as { state: string }).state).toBe(
        "stopped",
      );
      const round = (await (
        await app.request(`/api/v1/sessions/${id}/messages`, json({ message: "second" }))
      ).json()) as { state: string };
      expect(round.state).toBe("finished");
      expect(host.createCalls.at(-1)?.sessionId).toBe(id);
    });

    it("answers 503 while shutting down, and lets a running round finish within the grace period", async () => {
      const { app, store } = await setup();
      const id = await createSession(app);
      const running = app.request(`/api/v1/sessions/${id}/messages`, json({ message: "slow" }));
      await waitFor(() => app.sessions.activeRun(id) !== undefined);
      const shutdown = app.shutdown(200);
      await expectError(
        await app.request(`/api/v1/sessions/${id}/messages`, json({ message: "x" })),
        503,
        "shutting_down",
      );
      await expectError(await app.request("/api/v1/sessions", { method: "POST" }), 503, "shutting_down");
      expect((await app.request("/api/v1/health")).status).toBe(503);
      await shutdown;
      // The slow round did not finish in 200 ms: it was interrupted and recorded as failed.
      const round = (await (await running).json()) as { state: string };
      expect(round.state).toBe("failed");
      expect((await store.listRounds(id)).map((item) => item.state)).toEqual(["failed"]);
    });
  });

  describe("reference and logs", () => {
    it("serves an OpenAPI document built from the schemas and a self-contained reference page", async () => {
      const { app } = await setup();
      const document = (await (await app.request("/api/v1/openapi.json")).json()) as {
        openapi: string;
        paths: Record<string, Record<string, unknown>>;
        components: {
          schemas: Record<
            string,
            { properties?: Record<string, { maxLength?: number }>; additionalProperties?: unknown }
          >;
        };
      };
      expect(document.openapi).toBe("3.1.0");
      expect(Object.keys(document.paths)).toEqual(
        expect.arrayContaining([
          "/api/v1/health",
          "/api/v1/sessions",
          "/api/v1/sessions/{id}",
          "/api/v1/sessions/{id}/messages",
          "/api/v1/sessions/{id}/events",
          "/api/v1/sessions/{id}/files",
          "/api/v1/sessions/{id}/files/{name}",
          "/api/v1/sessions/{id}/interrupt",
        ]),
      );
      const message = document.components.schemas.MessageRequest!;
      expect(message.properties?.message?.maxLength).toBe(20_000);
      expect(message.additionalProperties).toBe(false);

      const page = await app.request("/api/v1/docs");
      expect(page.headers.get("content-type")).toContain("text/html");
      const html = await page.text();
      expect(html).toContain("/api/v1/sessions/{id}/messages");
      expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
    });

    it("echoes or creates a request id and logs each request with it", async () => {
      const entries: { requestId: string; status: number; path: string }[] = [];
      const { app } = await setup({ logRequest: (entry) => entries.push(entry) });
      const echoed = await app.request("/api/v1/health", { headers: { "x-request-id": "abc-123" } });
      expect(echoed.headers.get("x-request-id")).toBe("abc-123");
      const missing = await app.request("/api/v1/sessions/nope");
      const generated = missing.headers.get("x-request-id");
      expect(generated).toMatch(/^[0-9a-f-]{36}$/);
      expect(((await missing.json()) as { error: { request_id: string } }).error.request_id).toBe(generated);
      expect(entries.map((entry) => [entry.requestId, entry.status, entry.path])).toEqual([
        ["abc-123", 200, "/api/v1/health"],
        [generated, 404, "/api/v1/sessions/nope"],
      ]);
    });
  });

  async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error("condition not met in time");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
});
