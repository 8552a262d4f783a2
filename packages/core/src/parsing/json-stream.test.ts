import { describe, expect, it } from "vitest";
import { JsonStreamParser, type FieldEvent } from "./json-stream.js";

function feed(chunks: string[]) {
  const parser = new JsonStreamParser();
  const events: FieldEvent[] = [];
  for (const chunk of chunks) events.push(...parser.push(chunk));
  events.push(...parser.end());
  return { parser, events };
}

function splitEvery(text: string, size: number) {
  const chunks: string[] = [];
  for (let index = 0; index < text.length; index += size) chunks.push(text.slice(index, index + size));
  return chunks;
}

const answer = JSON.stringify({
  response: { thought: "I will print \"hi\"\nnow", reply_type: "python", reply_content: "print('hi')\n" },
});

describe("JsonStreamParser", () => {
  it("reports each field of the response object with its full value", () => {
    const { parser } = feed([answer]);
    expect(parser.isComplete).toBe(true);
    expect(parser.fields).toEqual({ thought: 'I will print "hi"\nnow', reply_type: "python", reply_content: "print('hi')\n" });
  });

  it("streams string fields as deltas that add up to the value, whatever the chunk size", () => {
    for (const size of [1, 2, 3, 7, 64]) {
      const { events } = feed(splitEvery(answer, size));
      const thought = events
        .filter((event) => event.type === "field-delta" && event.key === "thought")
        .map((event) => (event.type === "field-delta" ? event.delta : ""))
        .join("");
      expect(thought).toBe('I will print "hi"\nnow');
      expect(events.filter((event) => event.type === "field-end").map((event) => event.key)).toEqual([
        "thought",
        "reply_type",
        "reply_content",
      ]);
    }
  });

  it("emits a delta before the field's string is closed", () => {
    const parser = new JsonStreamParser();
    const events = parser.push('{"response": {"plan": "1. load the');
    expect(events).toContainEqual({ type: "field-delta", key: "plan", delta: "1. load the" });
    expect(events.some((event) => event.type === "field-end")).toBe(false);
  });

  it("tolerates code fences, leading prose and think blocks", () => {
    const text = `<think>maybe {"x": 1} is it?</think>Sure! Here it is:\n\`\`\`json\n${answer}\n\`\`\`\nDone.`;
    const { parser } = feed(splitEvery(text, 5));
    expect(parser.isComplete).toBe(true);
    expect(parser.fields["reply_type"]).toBe("python");
  });

  it("accepts fields at the top level when the response wrapper is missing", () => {
    const { parser } = feed(['{"send_to": "User", "message": "done"}']);
    expect(parser.fields).toEqual({ send_to: "User", message: "done" });
  });

  it("keeps an unknown field, even a nested one, from corrupting its neighbours", () => {
    const text =
      '{"response": {"thought": "a", "confidence": {"level": "high", "why": ["x", "y\\"}"]}, "score": 0.5, "reply_type": "text", "reply_content": "b"}}';
    const { parser, events } = feed(splitEvery(text, 3));
    expect(parser.fields["thought"]).toBe("a");
    expect(parser.fields["reply_type"]).toBe("text");
    expect(parser.fields["reply_content"]).toBe("b");
    expect(parser.fields["confidence"]).toEqual({ level: "high", why: ["x", 'y"}'] });
    expect(parser.fields["score"]).toBe(0.5);
    const confidenceEnd = events.find((event) => event.type === "field-end" && event.key === "confidence");
    expect(confidenceEnd?.type === "field-end" && confidenceEnd.text).toBe('{"level":"high","why":["x","y\\"}"]}');
    expect(events.some((event) => event.type === "field-delta" && event.key === "confidence")).toBe(false);
  });

  it("decodes unicode escapes, including surrogate pairs split across chunks", () => {
    const { parser } = feed(['{"message": "caf\\u00e9 \\ud83d', '\\ude00"}']);
    expect(parser.fields["message"]).toBe("café 😀");
  });

  it("reports a cut-off answer and an answer without JSON", () => {
    expect(feed(['{"response": {"plan": "x"']).parser.parseError).toMatch(/not complete/);
    expect(feed(["I cannot help with that."]).parser.parseError).toMatch(/no JSON/);
    expect(feed(['{"a": tru e}']).parser.parseError).toBeDefined();
  });
});
