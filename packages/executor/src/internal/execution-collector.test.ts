import { describe, expect, test } from "vitest";
import { ExecutionCollector } from "./execution-collector.js";
import { EVENT_MIME } from "./support-code.js";

describe("ExecutionCollector", () => {
  test("keeps output up to the limit, streams only that, and notes what was dropped", async () => {
    const streamed: string[] = [];
    const collector = new ExecutionCollector({
      executionId: "e",
      maxOutputChars: 10,
      onOutput: (output) => streamed.push(output.text),
    });
    collector.handle({ type: "stream", content: { name: "stdout", text: "123456" } });
    collector.handle({ type: "stream", content: { name: "stderr", text: "abcdef" } });
    collector.handle({ type: "stream", content: { name: "stdout", text: "more" } });
    await collector.finish();
    expect(collector.stdout).toEqual(["123456"]);
    expect(collector.stderr).toEqual(["abcd"]);
    expect(streamed.slice(0, 2)).toEqual(["123456", "abcd"]);
    expect(streamed.join("")).toContain("not shown");
    expect(collector.notes).toEqual([
      "Output was cut: only the first 10 characters were kept; 4 characters of stdout and 2 characters of stderr were dropped.",
    ]);
  });

  test("adds output the kernel already dropped to the note, and shows the cut notice once", async () => {
    const streamed: string[] = [];
    const collector = new ExecutionCollector({
      executionId: "e",
      maxOutputChars: 5,
      onOutput: (output) => streamed.push(output.text),
    });
    collector.handle({ type: "stream", content: { name: "stdout", text: "12345" } });
    collector.handle({
      type: "display_data",
      content: { data: { [EVENT_MIME]: { kind: "output_dropped", stdout: 995, stderr: 7 } }, metadata: {} },
    });
    await collector.finish();
    expect(collector.stdout).toEqual(["12345"]);
    expect(collector.displays).toEqual([]);
    expect(streamed.filter((text) => text.includes("not shown"))).toHaveLength(1);
    expect(collector.notes[0]).toContain("995 characters of stdout and 7 characters of stderr were dropped");
  });

  test("turns CRLF from shell commands into LF", () => {
    const collector = new ExecutionCollector({ executionId: "e", maxOutputChars: 100 });
    collector.handle({ type: "stream", content: { name: "stdout", text: "hi\r\n" } });
    expect(collector.stdout).toEqual(["hi\n"]);
  });

  test("uses the execute_result's plain text as the output and hides support events", async () => {
    const collector = new ExecutionCollector({ executionId: "e", maxOutputChars: 100 });
    collector.handle({
      type: "execute_result",
      content: { data: { "text/plain": "42", "text/html": "<b>42</b>" }, metadata: {} },
    });
    collector.handle({
      type: "display_data",
      content: {
        data: {
          [EVENT_MIME]: {
            kind: "artifact",
            name: "c",
            type: "chart",
            mime_type: "image/png",
            path: "c.png",
            description: "d",
          },
        },
        metadata: {},
      },
    });
    collector.handle({
      type: "display_data",
      content: { data: { [EVENT_MIME]: { kind: "log", level: "info", message: "m" } }, metadata: {} },
    });
    collector.handle({
      type: "display_data",
      content: { data: { [EVENT_MIME]: { kind: "unknown" } }, metadata: {} },
    });
    await collector.finish();
    expect(collector.output).toBe("42");
    expect(collector.displays).toEqual([{ data: { "text/plain": "42", "text/html": "<b>42</b>" } }]);
    expect(collector.artifacts).toEqual([
      { name: "c", type: "chart", mimeType: "image/png", path: "c.png", description: "d" },
    ]);
    expect(collector.log).toEqual([{ level: "info", message: "m" }]);
  });

  test("saves displayed images through saveFile and reports them as artifacts", async () => {
    const saved = new Map<string, Uint8Array>();
    const collector = new ExecutionCollector({
      executionId: "exec-1",
      maxOutputChars: 100,
      saveFile: async (name, data) => saved.set(name, data),
    });
    collector.handle({
      type: "display_data",
      content: {
        data: { "image/png": Buffer.from("png!").toString("base64"), "text/plain": "<Figure>" },
        metadata: {},
      },
    });
    await collector.finish();
    expect(Buffer.from(saved.get("exec-1-image_1.png")!).toString()).toBe("png!");
    expect(collector.artifacts).toEqual([
      {
        name: "image_1",
        type: "image",
        mimeType: "image/png",
        path: "exec-1-image_1.png",
        description: "image displayed by the code",
      },
    ]);
  });

  test("strips ANSI from tracebacks", () => {
    const collector = new ExecutionCollector({ executionId: "e", maxOutputChars: 100 });
    collector.handle({
      type: "error",
      content: { ename: "E", evalue: "v", traceback: ["\u001b[31mline 1\u001b[0m", "line 2"] },
    });
    expect(collector.error).toEqual({ name: "E", value: "v", traceback: "line 1\nline 2" });
  });
});
