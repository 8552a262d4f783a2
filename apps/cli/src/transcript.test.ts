import { PassThrough, Readable } from "node:stream";
import { LlmResponseError, MockAnswerMissingError } from "@taskweaver/core";
import { describe, expect, it } from "vitest";
import { GREETING } from "./banner.js";
import { COUNT_ROWS_ROUND, createFakeApp } from "./testing/fake-session.js";
import { EXIT_INTERRUPTED, runTranscript } from "./transcript.js";

function collect() {
  const chunks: string[] = [];
  return { chunks, output: { write: (text: string) => chunks.push(text) }, text: () => chunks.join("") };
}

describe("runTranscript", () => {
  it("greets, echoes each request as a Human line, renders its round and exits 0", async () => {
    const app = createFakeApp(() => ({ posts: COUNT_ROWS_ROUND }));
    const { output, text } = collect();
    const code = await runTranscript({
      app,
      input: Readable.from(["count the rows\n", "\n", "again\n"]),
      output,
    });
    expect(code).toBe(0);
    const transcript = text();
    expect(transcript.indexOf(GREETING)).toBeGreaterThan(0);
    expect(transcript).toContain("Human: count the rows\n>>> [INIT_PLAN]\n");
    expect(transcript.match(/TaskWeaver: demo_data.csv has 100 rows\.\n/g)).toHaveLength(2);
    expect(transcript).toContain("\nHuman: again\n");
    // Empty lines are not requests.
    expect(app.sessions[0]!.messages.map((entry) => entry.message)).toEqual(["count the rows", "again"]);
    expect(app.closed).toBe(true);
  });

  it("exits 1 when a round fails, and keeps going with the next line", async () => {
    const app = createFakeApp((message) =>
      message === "bad"
        ? { posts: [], failure: new LlmResponseError("The model endpoint failed.") }
        : { posts: COUNT_ROWS_ROUND },
    );
    const { output, text } = collect();
    const code = await runTranscript({ app, input: Readable.from(["bad\nok\n"]), output });
    expect(code).toBe(1);
    expect(text()).toContain("Human: bad\nTaskWeaver: [error] The model endpoint failed.\nHuman: ok\n");
    expect(text()).toContain("TaskWeaver: demo_data.csv has 100 rows.");
  });

  it("in --demo, answers a request the recording does not know with what the demo knows and how to use a real model", async () => {
    const app = createFakeApp(() => ({
      posts: [],
      failure: new MockAnswerMissingError("No recorded answer for cache key 1234abcd.", {
        cachePath: "/project/demo/mock.yaml",
        requestPreview: "what is 2+2",
      }),
    }));
    const { output, text } = collect();
    const code = await runTranscript({
      app,
      input: Readable.from(["what is 2+2\n"]),
      output,
      demo: { request: "count the rows of demo_data.csv", command: "taskweaver" },
    });
    expect(code).toBe(1);
    expect(text()).toContain(
      "TaskWeaver: [error] The demo replays a recorded conversation and knows only its recorded request:\n" +
        "  count the rows of demo_data.csv\n",
    );
    expect(text()).toContain("LLM_API_KEY and LLM_MODEL");
    expect(text()).toContain("run `taskweaver -p DIR` without --demo");
    expect(text()).not.toContain("cache key");
  });

  it("outside --demo, shows a missing recorded answer as it is", async () => {
    const app = createFakeApp(() => ({
      posts: [],
      failure: new MockAnswerMissingError("No recorded answer for cache key 1234abcd.", {
        cachePath: "/x/mock.yaml",
        requestPreview: "q",
      }),
    }));
    const { output, text } = collect();
    await runTranscript({ app, input: Readable.from(["q\n"]), output });
    expect(text()).toContain("TaskWeaver: [error] No recorded answer for cache key 1234abcd.\n");
  });

  it("in --demo, shows other round errors as they are", async () => {
    const app = createFakeApp(() => ({ posts: [], failure: new LlmResponseError("The model endpoint failed.") }));
    const { output, text } = collect();
    await runTranscript({
      app,
      input: Readable.from(["q\n"]),
      output,
      demo: { request: "count the rows", command: "taskweaver" },
    });
    expect(text()).toContain("TaskWeaver: [error] The model endpoint failed.\n");
  });

  it("shows a notice under the greeting, e.g. for a replay", async () => {
    const app = createFakeApp(() => ({ posts: [] }));
    const { output, text } = collect();
    await runTranscript({ app, input: Readable.from([]), output, notice: "[demo] replay" });
    expect(text()).toContain(`${GREETING}\n[demo] replay\n`);
  });

  it("interrupts the running round on abort and exits 130", async () => {
    const app = createFakeApp(() => ({ posts: [], waitForInterrupt: true }));
    const { output, text } = collect();
    const input = new PassThrough();
    const controller = new AbortController();
    const running = runTranscript({ app, input, output, signal: controller.signal });
    input.write("sleep\n");
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort();
    expect(await running).toBe(EXIT_INTERRUPTED);
    expect(app.sessions[0]!.interrupted).toBe(1);
    expect(text()).toContain("TaskWeaver: [error] The round was interrupted.");
    expect(app.closed).toBe(true);
  });
});
