// `pnpm taskweaver` runs tsx from the repository root, whose settings do not apply the React
// JSX runtime of this package's tsconfig: these pragmas make every runner compile JSX alike.
/* @jsxRuntime automatic */
/* @jsxImportSource react */
import { Box, Text, useInput } from "ink";
import { useRef, useState } from "react";
import { EMPTY_INPUT, reduceInput, type InputAction, type InputState } from "./input-state.js";

/** Bracketed-paste markers, as Ink hands them over once the escape is stripped. */
const PASTE_START = "[200~";
const PASTE_END = "[201~";

export interface PromptInputProps {
  /** Earlier requests, oldest first. */
  history: readonly string[];
  /** Receives the request; returning false keeps the text in the input (it was refused). */
  onSubmit: (text: string) => boolean | void;
  /** Ctrl-C; receives whether the input was empty (then the screen decides to leave). */
  onInterrupt: (inputWasEmpty: boolean) => void;
  /** Ctrl-D at an empty prompt. */
  onEndOfInput?: () => void;
  /** False hides the cursor and ignores keys. @default true */
  isActive?: boolean;
  /** @default "Human: " */
  prompt?: string;
  /** Text the input starts with, cursor at its end. @default "" */
  initialText?: string;
}

/** The text with an inverse-video cursor, line by line under the prompt. */
function renderWithCursor(state: InputState, showCursor: boolean) {
  const { text, cursor } = state;
  const before = text.slice(0, cursor);
  const at = text[cursor];
  const after = text.slice(cursor + 1);
  if (!showCursor) return <Text>{text}</Text>;
  // A cursor on a line break is drawn as a space at the end of the line.
  const cursorChar = at === undefined || at === "\n" ? " " : at;
  return (
    <Text>
      {before}
      <Text inverse>{cursorChar}</Text>
      {at === "\n" ? `\n${after}` : after}
    </Text>
  );
}

/**
 * The input line: editing keys, history with up/down, multi-line paste (line breaks in pasted
 * text stay; Enter submits).
 */
export function PromptInput({
  history,
  onSubmit,
  onInterrupt,
  onEndOfInput,
  isActive = true,
  prompt = "Human: ",
  initialText = "",
}: PromptInputProps) {
  const [state, setState] = useState<InputState>(() =>
    reduceInput(EMPTY_INPUT, { type: "insert", text: initialText }),
  );
  // Keys can arrive faster than React re-renders: keep the latest state in a ref.
  const stateRef = useRef(state);
  const pasting = useRef(false);
  const dispatch = (action: InputAction) => {
    stateRef.current = reduceInput(stateRef.current, action);
    setState(stateRef.current);
  };

  const submit = () => {
    const before = stateRef.current;
    dispatch({ type: "clear" });
    if (onSubmit(before.text) === false) {
      stateRef.current = before;
      setState(before);
    }
  };

  useInput(
    (input, key) => {
      if (input === PASTE_START) {
        pasting.current = true;
        return;
      }
      if (input === PASTE_END) {
        pasting.current = false;
        return;
      }
      if (key.ctrl && input === "c") {
        const wasEmpty = stateRef.current.text === "";
        dispatch({ type: "clear" });
        onInterrupt(wasEmpty);
        return;
      }
      if (key.ctrl && input === "d") {
        if (stateRef.current.text === "") onEndOfInput?.();
        else dispatch({ type: "delete" });
        return;
      }
      if (key.return) {
        if (pasting.current) {
          dispatch({ type: "insert", text: "\n" });
          return;
        }
        submit();
        return;
      }
      if (key.upArrow) return dispatch({ type: "up", history });
      if (key.downArrow) return dispatch({ type: "down", history });
      if (key.leftArrow) return dispatch({ type: "left" });
      if (key.rightArrow) return dispatch({ type: "right" });
      if (key.home || (key.ctrl && input === "a")) return dispatch({ type: "home" });
      if (key.end || (key.ctrl && input === "e")) return dispatch({ type: "end" });
      if (key.ctrl && input === "u") return dispatch({ type: "clear" });
      if (key.ctrl && input === "w") return dispatch({ type: "delete-word" });
      // Most terminals send DEL (0x7f) for Backspace, which Ink reports as `delete`.
      if (key.backspace || key.delete) return dispatch({ type: "backspace" });
      if (key.ctrl || key.meta || key.escape || key.tab) return;
      if (input === "") return;
      // Several keys can arrive in one chunk when the app is busy (typing ahead) or when a
      // terminal without bracketed paste pastes: line breaks inside stay in the request, and a
      // final Enter still submits it.
      if (!pasting.current && input.length > 1 && input.endsWith("\r")) {
        dispatch({ type: "insert", text: input.slice(0, -1) });
        submit();
        return;
      }
      dispatch({ type: "insert", text: input });
    },
    { isActive },
  );

  const lines = renderWithCursor(state, isActive);
  return (
    <Box>
      <Text bold color="blue">
        {prompt}
      </Text>
      <Box flexDirection="column">{lines}</Box>
    </Box>
  );
}
