/**
 * The prompt's editing state as a pure reducer: text with a cursor, multi-line paste, and
 * history browsing with up/down. The Ink component only maps keys to actions.
 */

export interface InputState {
  readonly text: string;
  /** Cursor offset in `text` (UTF-16 units). */
  readonly cursor: number;
  /** Position while browsing history: an index into the entries, or `undefined` when editing. */
  readonly historyIndex: number | undefined;
  /** The text being edited before browsing started, given back when browsing past the end. */
  readonly draft: string;
}

export type InputAction =
  | { type: "insert"; text: string }
  | { type: "backspace" }
  | { type: "delete" }
  | { type: "left" }
  | { type: "right" }
  | { type: "home" }
  | { type: "end" }
  | { type: "up"; history: readonly string[] }
  | { type: "down"; history: readonly string[] }
  | { type: "delete-word" }
  | { type: "clear" };

export const EMPTY_INPUT: InputState = { text: "", cursor: 0, historyIndex: undefined, draft: "" };

/** Terminals send `\r` for line breaks in pastes; the request should hold `\n`. */
export function normalizeNewlines(text: string): string {
  return text.replace(/\r\n?/g, "\n");
}

const lineStart = (text: string, cursor: number) => text.lastIndexOf("\n", cursor - 1) + 1;
const lineEnd = (text: string, cursor: number) => {
  const index = text.indexOf("\n", cursor);
  return index === -1 ? text.length : index;
};

function moveVertically(state: InputState, direction: -1 | 1): InputState | undefined {
  const { text, cursor } = state;
  const start = lineStart(text, cursor);
  const column = cursor - start;
  if (direction === -1) {
    if (start === 0) return undefined;
    const previousStart = lineStart(text, start - 1);
    return { ...state, cursor: Math.min(previousStart + column, start - 1) };
  }
  const end = lineEnd(text, cursor);
  if (end === text.length) return undefined;
  const nextStart = end + 1;
  return { ...state, cursor: Math.min(nextStart + column, lineEnd(text, nextStart)) };
}

const fromHistory = (text: string, historyIndex: number | undefined, draft: string): InputState => ({
  text,
  cursor: text.length,
  historyIndex,
  draft,
});

export function reduceInput(state: InputState, action: InputAction): InputState {
  const { text, cursor } = state;
  switch (action.type) {
    case "insert": {
      const inserted = normalizeNewlines(action.text);
      return {
        ...state,
        text: text.slice(0, cursor) + inserted + text.slice(cursor),
        cursor: cursor + inserted.length,
        historyIndex: undefined,
      };
    }
    case "backspace":
      if (cursor === 0) return state;
      return {
        ...state,
        text: text.slice(0, cursor - 1) + text.slice(cursor),
        cursor: cursor - 1,
        historyIndex: undefined,
      };
    case "delete":
      if (cursor === text.length) return state;
      return { ...state, text: text.slice(0, cursor) + text.slice(cursor + 1), historyIndex: undefined };
    case "delete-word": {
      const before = text.slice(0, cursor).replace(/\s*\S+\s*$/, "");
      return { ...state, text: before + text.slice(cursor), cursor: before.length, historyIndex: undefined };
    }
    case "left":
      return { ...state, cursor: Math.max(0, cursor - 1) };
    case "right":
      return { ...state, cursor: Math.min(text.length, cursor + 1) };
    case "home":
      return { ...state, cursor: lineStart(text, cursor) };
    case "end":
      return { ...state, cursor: lineEnd(text, cursor) };
    case "up": {
      // In a multi-line request, up moves between lines first; history starts on the top line.
      const moved = moveVertically(state, -1);
      if (moved) return moved;
      if (action.history.length === 0) return state;
      const index =
        state.historyIndex === undefined ? action.history.length - 1 : Math.max(0, state.historyIndex - 1);
      const draft = state.historyIndex === undefined ? text : state.draft;
      return fromHistory(action.history[index]!, index, draft);
    }
    case "down": {
      const moved = moveVertically(state, 1);
      if (moved) return moved;
      if (state.historyIndex === undefined) return state;
      const index = state.historyIndex + 1;
      if (index >= action.history.length) return fromHistory(state.draft, undefined, "");
      return fromHistory(action.history[index]!, index, state.draft);
    }
    case "clear":
      return EMPTY_INPUT;
  }
}
