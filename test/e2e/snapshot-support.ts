// What the kernel-snapshot tests of every runtime share: the rounds that build state and use it
// again, and reading what the model was told.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ApiServer } from "@taskweaver/api";
import type { Round } from "@taskweaver/core";
import {
  createTestAppDir,
  plannerRound,
  startFakeOpenAIServer,
  startTestApiServer,
  type FakeOpenAIServer,
  type TestAppDir,
} from "../src/index.js";

/** Builds a data frame, a function using it and a module alias, plus two things pickle cannot keep. */
export const BUILD_STATE_CODE = [
  "import pandas as pd",
  "df = pd.DataFrame({'city': ['Oslo', 'Lima', 'Pune'], 'people': [709, 10092, 7764]})",
  "def biggest(frame):",
  "    return frame.sort_values('people').iloc[-1]['city']",
  "def total():",
  "    return int(df['people'].sum())",
  "countdown = (n for n in range(3))",
  "log_file = open('log.txt', 'w')",
  "biggest(df)",
].join("\n");

/** Uses what {@link BUILD_STATE_CODE} left, through the restored function, data frame and alias. */
export const USE_STATE_CODE = "(biggest(df), total(), type(pd.DataFrame()).__name__, 'countdown' in dir())";

/** What {@link USE_STATE_CODE} shows when everything came back. */
export const USE_STATE_OUTPUT = "('Lima', 18565, 'DataFrame', False)";

/** Queues the round that builds the state. */
export function enqueueBuild(model: FakeOpenAIServer): void {
  model.enqueue(...plannerRound(BUILD_STATE_CODE, "Lima is the biggest."));
}

/** Uses the data frame and the alias only (a kernel without dill keeps no functions). */
const USE_VALUES_CODE =
  "(df.sort_values('people').iloc[-1]['city'], type(pd.DataFrame()).__name__, 'biggest' in dir())";
const USE_VALUES_OUTPUT = "('Lima', 'DataFrame', False)";

/** Queues the round that uses the restored state. */
export function enqueueUse(model: FakeOpenAIServer, functions = true): void {
  model.enqueue(...plannerRound(functions ? USE_STATE_CODE : USE_VALUES_CODE, "Still there."));
}

/** The displayed result of the round's code. */
export function executionResult(round: Round): string {
  return (
    round.post_list
      .flatMap((post) => post.attachment_list)
      .find((attachment) => attachment.type === "execution_result")?.content ?? ""
  );
}

/** The text of the chat request at `index` (the first of the round: the Planner's). */
export function promptOf(model: FakeOpenAIServer, index: number): string {
  return JSON.stringify(model.chatRequests[index]!.body);
}

/** The model was told what came back and what did not, by name. */
export function expectRestoreNote(prompt: string, functions = true): void {
  const note = /\[Note: the kernel was stopped and its saved state[^\]]*\]/.exec(prompt)?.[0] ?? "";
  expect(note, prompt.slice(0, 2000)).not.toBe("");
  if (functions) expect(note).toMatch(/variables restored: df, biggest, total;/);
  else {
    expect(note).toMatch(/variables restored: df;/);
    expect(note).toContain("biggest (functions not saved: dill not installed)");
  }
  expect(note).toContain("pandas as pd");
  expect(note).toMatch(/countdown \(cannot be pickled \(generator/);
  expect(note).toMatch(/log_file \(an open file/);
}

/** How one runtime is set up for {@link describeSnapshotScenarios}. */
export interface SnapshotRuntime {
  /** Why the runtime cannot run here; the scenarios then skip, or fail under `CI=true`. */
  unavailableReason: () => string | undefined;
  /** Config keys of the app (kernel mode, image, server URL). */
  config: () => Record<string, unknown>;
  /** Called after the first server stopped, before the second starts (e.g. remove a kept remote kernel). */
  betweenRestarts?: (appDir: string, sessionId: string) => Promise<void>;
  /**
   * Whether the kernels have dill, so that functions defined in the session are kept (read once
   * the runtime is available). Without it they are named as lost, and the rest is checked.
   * @default true
   */
  functionsKept?: () => boolean;
  /** The runtime keeps kernels across restarts of the API (remote): attaching wins over the snapshot. @default false */
  keepsKernels?: boolean;
}

const HEAVY_TEST_TIMEOUT = 240_000;

/**
 * The kernel-snapshot scenarios over the real API, for one runtime: state survives an idle
 * stop and a restart of the server; a damaged snapshot is reported and skipped; the snapshot
 * route answers 200, 404 and 409.
 */
export function describeSnapshotScenarios(name: string, runtime: SnapshotRuntime): void {
  const reason = () => runtime.unavailableReason();
  describe(`kernel snapshots over the API (${name})`, () => {
    let model: FakeOpenAIServer;
    const appDirs: TestAppDir[] = [];
    const servers: ApiServer[] = [];

    beforeAll(async () => {
      model = await startFakeOpenAIServer({ chunkSize: 64 });
    });
    afterAll(async () => {
      await model?.close();
    });
    afterEach(async () => {
      for (const server of servers.splice(0)) await server.close(5_000);
      for (const dir of appDirs.splice(0)) dir.remove();
    });
    beforeEach((context) => {
      const why = reason();
      if (why === undefined) return;
      if (process.env.CI === "true") throw new Error(`The ${name} runtime is required under CI=true: ${why}`);
      context.skip();
    });

    const newAppDir = () => {
      const dir = createTestAppDir({
        config: {
          "llm.api_base": model.url,
          "llm.api_key": "test-key",
          "llm.model": "fake-model",
          ...runtime.config(),
        },
      });
      appDirs.push(dir);
      return dir;
    };
    const start = async (
      appDir: string,
      options: { apiKeys?: string[]; configOverrides?: Record<string, unknown> } = {},
    ) => {
      const server = await startTestApiServer(appDir, options);
      servers.push(server);
      return server;
    };
    const createSession = async (url: string, headers: Record<string, string> = {}) =>
      ((await (await fetch(`${url}/api/v1/sessions`, { method: "POST", headers })).json()) as { id: string })
        .id;
    const send = async (url: string, id: string, message: string, headers: Record<string, string> = {}) => {
      const response = await fetch(`${url}/api/v1/sessions/${id}/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ message }),
      });
      expect(response.status).toBe(200);
      return (await response.json()) as Round;
    };
    const functions = () => runtime.functionsKept?.() ?? true;
    const snapshotPath = (appDir: string, id: string) =>
      join(appDir, "workspace", "sessions", id, "kernel-snapshot.bin");
    const waitFor = async (condition: () => boolean, what: string) => {
      const deadline = Date.now() + 60_000;
      while (!condition()) {
        if (Date.now() > deadline) throw new Error(`waited in vain for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const waitForState = async (url: string, id: string, state: string) => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const view = (await (await fetch(`${url}/api/v1/sessions/${id}`)).json()) as { state: string };
        if (view.state === state) return;
        if (Date.now() > deadline) throw new Error(`session ${id} stayed ${view.state}, not ${state}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    };

    it(
      "keeps a data frame, a function and an alias across an idle-timeout stop, and names what could not be kept",
      async () => {
        const dir = newAppDir();
        const server = await start(dir.path, { configOverrides: { "api.session_idle_timeout": 1 } });
        const id = await createSession(server.url);
        enqueueBuild(model);
        const built = await send(server.url, id, "which city is biggest?");
        expect(executionResult(built)).toContain("Lima");
        await waitForState(server.url, id, "stopped");
        // The state reads "stopped" as soon as the kernel is let go; the save finishes after.
        await waitFor(() => existsSync(snapshotPath(dir.path, id)), "the snapshot file");

        const before = model.chatRequests.length;
        enqueueUse(model, functions());
        const used = await send(server.url, id, "and now?");
        expect(used.state).toBe("finished");
        expect(executionResult(used)).toContain(functions() ? USE_STATE_OUTPUT : USE_VALUES_OUTPUT);
        expectRestoreNote(promptOf(model, before), functions());
        // Restored once: the next kernel of the session does not get it again.
        expect(existsSync(snapshotPath(dir.path, id))).toBe(false);
      },
      HEAVY_TEST_TIMEOUT,
    );

    it(
      "keeps a data frame and a function across a restart of the server",
      async () => {
        const dir = newAppDir();
        const first = await start(dir.path);
        const id = await createSession(first.url);
        enqueueBuild(model);
        expect(executionResult(await send(first.url, id, "which city is biggest?"))).toContain("Lima");
        await first.close(5_000);
        expect(existsSync(snapshotPath(dir.path, id))).toBe(true);
        await runtime.betweenRestarts?.(dir.path, id);

        const second = await start(dir.path);
        const before = model.chatRequests.length;
        enqueueUse(model, functions());
        const used = await send(second.url, id, "and now?");
        expect(executionResult(used)).toContain(functions() ? USE_STATE_OUTPUT : USE_VALUES_OUTPUT);
        expectRestoreNote(promptOf(model, before), functions());
      },
      HEAVY_TEST_TIMEOUT,
    );

    // Only where kernels outlive the API; the other runtimes have nothing to attach to.
    if (runtime.keepsKernels)
      it(
        "attaches to a kernel kept across a restart of the server and drops the snapshot, which is older",
        async () => {
          const dir = newAppDir();
          const first = await start(dir.path);
          const id = await createSession(first.url);
          enqueueBuild(model);
          await send(first.url, id, "which city is biggest?");
          await first.close(5_000);
          expect(existsSync(snapshotPath(dir.path, id))).toBe(true);

          const second = await start(dir.path);
          const before = model.chatRequests.length;
          // The generator is still there: this is the same kernel, not a restored one.
          model.enqueue(...plannerRound("(biggest(df), next(countdown))", "Same kernel."));
          const round = await send(second.url, id, "same kernel?");
          expect(executionResult(round)).toContain("('Lima', 0)");
          expect(promptOf(model, before)).not.toContain("saved state");
          expect(existsSync(snapshotPath(dir.path, id))).toBe(false);
        },
        HEAVY_TEST_TIMEOUT,
      );

    it(
      "reports a damaged snapshot to the model, keeps it aside, and starts the session clean",
      async () => {
        const dir = newAppDir();
        const first = await start(dir.path);
        const id = await createSession(first.url);
        enqueueBuild(model);
        await send(first.url, id, "which city is biggest?");
        await first.close(5_000);
        const path = snapshotPath(dir.path, id);
        const bytes = readFileSync(path);
        // Flip bytes in the payload (past the header): the checksum no longer matches.
        bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
        writeFileSync(path, bytes);
        await runtime.betweenRestarts?.(dir.path, id);

        const second = await start(dir.path);
        const before = model.chatRequests.length;
        model.enqueue(...plannerRound("'df' in dir()", "Gone."));
        const round = await send(second.url, id, "is df there?");
        expect(round.state).toBe("finished");
        expect(executionResult(round)).toContain("False");
        expect(promptOf(model, before)).toMatch(
          /could not be restored: the payload's checksum does not match/,
        );
        expect(existsSync(`${path}.corrupt`)).toBe(true);
        expect(existsSync(path)).toBe(false);
      },
      HEAVY_TEST_TIMEOUT,
    );

    it(
      "saves on demand with POST .../snapshot: 200 with what was kept, 404 for another key's session, 409 while a round runs",
      async () => {
        const dir = newAppDir();
        const server = await start(dir.path, { apiKeys: ["key-a", "key-b"] });
        const a = { authorization: "Bearer key-a" };
        const b = { authorization: "Bearer key-b" };
        const id = await createSession(server.url, a);
        const url = `${server.url}/api/v1/sessions/${id}/snapshot`;
        enqueueBuild(model);
        await send(server.url, id, "which city is biggest?", a);

        const saved = await fetch(url, { method: "POST", headers: a });
        expect(saved.status).toBe(200);
        const body = (await saved.json()) as {
          saved: boolean;
          values: { name: string; type: string }[];
          modules: { name: string; module: string }[];
          lost: { name: string; reason: string }[];
          bytes: number;
        };
        expect(body.saved).toBe(true);
        const functionEntries = [
          { name: "biggest", type: "function" },
          { name: "total", type: "function" },
        ];
        expect(body.values).toEqual([
          { name: "df", type: "DataFrame" },
          ...(functions() ? functionEntries : []),
        ]);
        expect(body.modules).toEqual([{ name: "pd", module: "pandas" }]);
        expect(body.lost.map((item) => item.name)).toEqual([
          ...(functions() ? [] : ["biggest", "total"]),
          "countdown",
          "log_file",
        ]);
        expect(body.bytes).toBe(readFileSync(snapshotPath(dir.path, id)).byteLength);

        const other = await fetch(url, { method: "POST", headers: b });
        expect(other.status).toBe(404);
        expect(((await other.json()) as { error: { code: string } }).error.code).toBe("not_found");

        model.enqueue(
          ...plannerRound("import time\nprint('working', flush=True)\ntime.sleep(2)\n'slept'", "Slept."),
        );
        const streaming = await fetch(`${server.url}/api/v1/sessions/${id}/messages`, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "text/event-stream", ...a },
          body: JSON.stringify({ message: "sleep" }),
        });
        const reader = streaming.body!.getReader();
        const decoder = new TextDecoder();
        let text = "";
        while (!text.includes("working")) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`stream ended early: ${text}`);
          text += decoder.decode(value, { stream: true });
        }
        const busy = await fetch(url, { method: "POST", headers: a });
        expect(busy.status).toBe(409);
        expect(((await busy.json()) as { error: { code: string } }).error.code).toBe("round_in_progress");
        while (!(await reader.read()).done) {
          // Drain the round's events until it ends.
        }
      },
      HEAVY_TEST_TIMEOUT,
    );
  });
}
