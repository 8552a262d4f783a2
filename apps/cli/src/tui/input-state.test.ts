import { describe, expect, it } from "vitest";
import { EMPTY_INPUT, reduceInput, type InputAction, type InputState } from "./input-state.js";

const apply = (actions: InputAction[], start: InputState = EMPTY_INPUT) => actions.reduce(reduceInput, start);
const typed = (text: string) => apply([{ type: "insert", text }]);

describe("reduceInput", () => {
  it("inserts at the cursor and edits around it", () => {
    const state = apply([
      { type: "insert", text: "helo" },
      { type: "left" },
      { type: "insert", text: "l" },
      { type: "end" },
      { type: "backspace" },
      { type: "home" },
      { type: "delete" },
    ]);
    expect(state.text).toBe("ell");
    expect(state.cursor).toBe(0);
  });

  it("keeps pasted line breaks as \\n", () => {
    const state = typed("first line\r\nsecond\rthird");
    expect(state.text).toBe("first line\nsecond\nthird");
    expect(state.cursor).toBe(state.text.length);
  });

  it("browses history with up and down and gives the draft back at the end", () => {
    const history = ["one", "two"];
    let state = typed("draft");
    state = reduceInput(state, { type: "up", history });
    expect(state.text).toBe("two");
    state = reduceInput(state, { type: "up", history });
    expect(state.text).toBe("one");
    state = reduceInput(state, { type: "up", history });
    expect(state.text).toBe("one");
    state = reduceInput(state, { type: "down", history });
    expect(state.text).toBe("two");
    state = reduceInput(state, { type: "down", history });
    expect(state).toMatchObject({ text: "draft", historyIndex: undefined });
  });

  it("moves between lines of a multi-line request before browsing history", () => {
    let state = typed("ab\ncd");
    state = reduceInput(state, { type: "up", history: ["old"] });
    expect(state).toMatchObject({ text: "ab\ncd", cursor: 2 });
    state = reduceInput(state, { type: "up", history: ["old"] });
    expect(state.text).toBe("old");
  });

  it("deletes the word before the cursor", () => {
    expect(apply([{ type: "insert", text: "count the rows" }, { type: "delete-word" }]).text).toBe(
      "count the",
    );
  });

  it("does nothing on up with no history and on backspace at the start", () => {
    expect(reduceInput(EMPTY_INPUT, { type: "up", history: [] })).toBe(EMPTY_INPUT);
    expect(reduceInput(EMPTY_INPUT, { type: "backspace" })).toBe(EMPTY_INPUT);
  });
});
