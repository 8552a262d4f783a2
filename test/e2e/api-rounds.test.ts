// The HTTP API over real HTTP (127.0.0.1, random port), with the real core session, the real
// OpenAI client against the fake model server, and real Python kernels.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseServerSentEvents, type ApiServer, type ServerSentEvent } from "@taskweaver/api";
import type { Post, Round, TaskWeaverEvent } from "@taskweaver/core";
import {
  createTestAppDir,
  startFakeOpenAIServer,
  startTestApiServer,
  type FakeOpenAIServer,
  type TestAppDir,
  plannerAnswer,
  plannerRound,
  pythonAnswer,
} from "../src/index.js";

/** Kernels start slowly on a busy machine; these tests stop by themselves well before. */
const HEAVY_TEST_TIMEOUT = 180_000;

let model: FakeOpenAIServer;
let appDir: TestAppDir;
let server: ApiServer;

beforeAll(async () => {
  model = await startFakeOpenAIServer({ chunkSize: 16 });
  appDir = createTestAppDir({
    config: { "llm.api_base": model.url, "llm.api_key": "test-key", "llm.model": "fake-model" },
  });
  server = await startTestApiServer(appDir.path);
});

afterAll(async () => {
  await server?.close(5_000);
  await model?.close();
  appDir?.remove();
});

const api = (path: string) => `${server.url}/api/v1${path}`;

async function createSession(): Promise<string> {
  const response = await fetch(api("/sessions"), { method: "POST" });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

function postMessage(id: string, body: unknown, stream: boolean, signal?: AbortSignal): Promise<Response> {
  return fetch(api(`/sessions/${id}/messages`), {
    method: "POST",
    headers: { "content-type": "application/json", ...(stream ? { accept: "text/event-stream" } : {}) },
    body: JSON.stringify(body),
    signal,
  });
}

async function streamRound(
  id: string,
  body: unknown,
): Promise<{ raw: ServerSentEvent[]; events: TaskWeaverEvent[] }> {
  const response = await postMessage(id, body, true);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/event-stream");
  const raw = parseServerSentEvents(await response.text());
  return { raw, events: raw.map((event) => JSON.parse(event.data) as TaskWeaverEvent) };
}

/**
 * Reads SSE events as they arrive and calls `onEvent` for each; stops when it returns true
 * (the connection is then dropped) or when the stream ends.
 */
async function readUntil(
  response: Response,
  onEvent: (event: ServerSentEvent) => boolean,
  controller: AbortController,
) {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const seen: ServerSentEvent[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return seen;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end + 2);
      buffer = buffer.slice(end + 2);
      for (const event of parseServerSentEvents(block)) {
        seen.push(event);
        if (onEvent(event)) {
          controller.abort();
          await reader.cancel().catch(() => {});
          return seen;
        }
      }
    }
  }
}

function attachment(post: Post, type: string): string | undefined {
  return post.attachment_list.find((item) => item.type === type)?.content;
}

describe("rounds over HTTP with real kernels", () => {
  it(
    "streams a full planner round as SSE, in order, with consecutive ids and the round last",
    async () => {
      const id = await createSession();
      model.enqueue(
        ...plannerRound("print('hello from the kernel')\nanswer = 6 * 7\nanswer", "The answer is 42."),
      );
      const { raw, events } = await streamRound(id, { message: "what is six times seven?" });
      expect(model.pendingResponses).toBe(0);

      expect(raw.map((event) => Number(event.id))).toEqual(raw.map((_, index) => index + 1));
      expect(raw.map((event) => event.event)).toEqual(events.map((event) => event.type));
      expect(events[0]).toMatchObject({
        type: "round-start",
        sessionId: id,
        userQuery: "what is six times seven?",
      });
      const last = events.at(-1)!;
      expect(last.type).toBe("round-end");
      const round = (last as { round: Round }).round;
      expect(round.state).toBe("finished");

      // Every post starts before its pieces and ends after them.
      const postIds = [...new Set(events.flatMap((event) => ("postId" in event ? [event.postId] : [])))];
      for (const postId of postIds) {
        const indices = events.flatMap((event, index) =>
          "postId" in event && event.postId === postId ? [index] : [],
        );
        const start = events.findIndex((event) => event.type === "post-start" && event.postId === postId);
        const end = events.findIndex((event) => event.type === "post-end" && event.post.id === postId);
        expect(start).toBe(indices[0]);
        expect(end).toBeGreaterThan(indices.at(-1)!);
      }
      const ended = events.flatMap((event) =>
        event.type === "post-end" ? [`${event.post.send_from}->${event.post.send_to}`] : [],
      );
      expect(ended).toEqual([
        "User->Planner",
        "Planner->CodeInterpreter",
        "CodeInterpreter->Planner",
        "Planner->User",
      ]);
      const output = events
        .flatMap((event) => (event.type === "execution-output" ? [event.text] : []))
        .join("");
      expect(output).toContain("hello from the kernel");
      expect(events.some((event) => event.type === "post-status" && event.status === "executing code")).toBe(
        true,
      );
      expect(round.post_list.at(-1)!.message).toBe("The answer is 42.");
      expect(attachment(round.post_list[2]!, "execution_result")).toContain("42");

      // The same round, posts included, is stored.
      const detail = (await (await fetch(api(`/sessions/${id}`))).json()) as {
        state: string;
        rounds: (Round & { error: unknown })[];
      };
      expect(detail.state).toBe("idle");
      expect(detail.rounds).toHaveLength(1);
      expect(detail.rounds[0]).toMatchObject({
        id: round.id,
        state: "finished",
        post_list: round.post_list,
        error: null,
      });
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "answers with the finished round as JSON without an event-stream Accept header",
    async () => {
      const id = await createSession();
      model.enqueue(...plannerRound("import numpy as np\nint(np.arange(10).sum())", "The sum is 45."));
      const response = await postMessage(id, { message: "sum 0..9" }, false);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("application/json");
      const round = (await response.json()) as Round & { error: unknown };
      expect(round).toMatchObject({ state: "finished", user_query: "sum 0..9", error: null });
      expect(round.post_list).toHaveLength(4);
      expect(attachment(round.post_list[2]!, "execution_status")).toBe("SUCCESS");
      expect(attachment(round.post_list[2]!, "execution_result")).toContain("45");
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "uploads a CSV and runs a round that reads it",
    async () => {
      const id = await createSession();
      const form = new FormData();
      form.append(
        "file",
        new File(["city,visitors\nOslo,3\nLima,5\nPune,9\n"], "visits.csv", { type: "text/csv" }),
      );
      const upload = await fetch(api(`/sessions/${id}/files`), { method: "POST", body: form });
      expect(upload.status).toBe(201);
      expect(await upload.json()).toEqual({ files: [{ name: "visits.csv", size: 35 }] });

      const before = model.chatRequests.length;
      model.enqueue(
        ...plannerRound(
          "import pandas as pd\ndf = pd.read_csv('visits.csv')\nint(df['visitors'].sum()) * 1000 + len(df)",
        ),
      );
      const round = (await (
        await postMessage(id, { message: "total visitors?", files: ["visits.csv"] }, false)
      ).json()) as Round;
      expect(round.state).toBe("finished");
      // 3 + 5 + 9 = 17 visitors in 3 rows: only reading the uploaded file gives 17003.
      expect(attachment(round.post_list[2]!, "execution_result")).toContain("17003");
      const firstPrompt = JSON.stringify(model.chatRequests[before]!.body);
      expect(firstPrompt).toContain("files added: visits.csv");
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "downloads the artifacts the code made: a matplotlib PNG and a text file",
    async () => {
      const id = await createSession();
      model.enqueue(
        ...plannerRound(
          [
            "import matplotlib",
            "matplotlib.use('Agg')",
            "import matplotlib.pyplot as plt",
            "plt.plot([1, 4, 9, 16])",
            "plt.savefig('squares.png')",
            "import pathlib",
            "pathlib.Path('report.txt').write_text('squares: 1 4 9 16\\n')",
            "'saved'",
          ].join("\n"),
        ),
      );
      const round = (await (await postMessage(id, { message: "plot squares" }, false)).json()) as Round;
      expect(round.state).toBe("finished");

      const png = await fetch(api(`/sessions/${id}/files/squares.png`));
      expect(png.status).toBe(200);
      expect(png.headers.get("content-type")).toBe("image/png");
      const bytes = new Uint8Array(await png.arrayBuffer());
      expect([...bytes.slice(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
      expect(bytes.length).toBeGreaterThan(1_000);

      const text = await fetch(api(`/sessions/${id}/files/report.txt`));
      expect(text.headers.get("content-type")).toBe("text/plain; charset=utf-8");
      expect(await text.text()).toBe("squares: 1 4 9 16\n");

      const list = (await (await fetch(api(`/sessions/${id}/files`))).json()) as {
        files: { name: string }[];
      };
      expect(list.files.map((file) => file.name)).toEqual(
        expect.arrayContaining(["squares.png", "report.txt"]),
      );
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "replays the events missed after a dropped connection from Last-Event-ID, to the end of the round",
    async () => {
      const id = await createSession();
      model.enqueue(
        ...plannerRound(
          "import time\nfor step in range(6):\n    print('step', step, flush=True)\n    time.sleep(0.3)\n'counted'",
        ),
      );
      const controller = new AbortController();
      const response = await postMessage(id, { message: "count slowly" }, true, controller.signal);
      // Drop the connection as soon as the code has printed its first line.
      const before = await readUntil(response, (event) => event.event === "execution-output", controller);
      const lastId = before.at(-1)!.id!;
      expect(before.at(-1)!.event).toBe("execution-output");

      const resumed = await fetch(api(`/sessions/${id}/events`), {
        headers: { accept: "text/event-stream", "last-event-id": lastId },
      });
      expect(resumed.status).toBe(200);
      const after = parseServerSentEvents(await resumed.text());
      expect(after.at(-1)!.event).toBe("round-end");
      const ids = [...before, ...after].map((event) => Number(event.id));
      expect(ids).toEqual(ids.map((_, index) => index + 1));
      const printed = [...before, ...after]
        .filter((event) => event.event === "execution-output")
        .map((event) => (JSON.parse(event.data) as { text: string }).text)
        .join("");
      expect(printed).toMatch(/step 0[\s\S]*step 5/);

      // The stored log holds exactly the events the two connections delivered.
      const stored = (await (await fetch(api(`/sessions/${id}/events`))).json()) as {
        events: { id: number; event: TaskWeaverEvent }[];
      };
      expect(stored.events.map((item) => item.id)).toEqual(ids);
      expect(stored.events.map((item) => JSON.stringify(item.event))).toEqual(
        [...before, ...after].map((event) => event.data),
      );
    },
    HEAVY_TEST_TIMEOUT,
  );

  it(
    "answers 409 to a second message while a round runs, and interrupting stops the running code",
    async () => {
      const id = await createSession();
      model.enqueue(
        plannerAnswer("CodeInterpreter", "Please wait."),
        pythonAnswer(
          "kept = 'still here'\nprint('looping', flush=True)\nimport time\nwhile True:\n    time.sleep(0.05)",
        ),
      );
      const controller = new AbortController();
      const response = await postMessage(id, { message: "run forever" }, true, controller.signal);
      const seen: ServerSentEvent[] = [];
      const reading = readUntil(
        response,
        (event) => {
          seen.push(event);
          return false;
        },
        controller,
      );
      const deadline = Date.now() + 30_000;
      // Interrupt once the code is really running (it has printed), not merely sent.
      while (!seen.some((event) => event.event === "execution-output" && event.data.includes("looping"))) {
        if (Date.now() > deadline) throw new Error("the code never started");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }

      const second = await postMessage(id, { message: "hello?" }, false);
      expect(second.status).toBe(409);
      expect(((await second.json()) as { error: { code: string } }).error.code).toBe("round_in_progress");

      const interruptedAt = Date.now();
      const interrupt = await fetch(api(`/sessions/${id}/interrupt`), { method: "POST" });
      expect(await interrupt.json()).toEqual({ interrupted: true });
      await reading;
      expect(Date.now() - interruptedAt).toBeLessThan(15_000);
      const last = JSON.parse(seen.at(-1)!.data) as TaskWeaverEvent;
      expect(last).toMatchObject({
        type: "round-error",
        error: { code: "aborted" },
        round: { state: "failed" },
      });
      expect(model.pendingResponses).toBe(0);

      // The kernel survived the interrupt: the variable set before the loop is still there.
      model.enqueue(...plannerRound("kept"));
      const next = (await (await postMessage(id, { message: "show kept" }, false)).json()) as Round & {
        error: unknown;
      };
      expect(next.state, JSON.stringify(next.error)).toBe("finished");
      expect(attachment(next.post_list[2]!, "execution_result")).toContain("still here");
    },
    HEAVY_TEST_TIMEOUT,
  );
});
