import { PassThrough, Readable } from "node:stream";
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
        ? { posts: [], failure: { code: "llm_response_error", message: "The model endpoint failed." } }
        : { posts: COUNT_ROWS_ROUND },
    );
    const { output, text } = collect();
    const code = await runTranscript({ app, input: Readable.from(["bad\nok\n"]), output });
    expect(code).toBe(1);
    expect(text()).toContain("Human: bad\nTaskWeaver: [error] The model endpoint failed.\nHuman: ok\n");
    expect(text()).toContain("TaskWeaver: demo_data.csv has 100 rows.");
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
