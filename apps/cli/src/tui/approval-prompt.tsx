// `pnpm taskweaver` runs tsx from the repository root, whose settings do not apply the React
// JSX runtime of this package's tsconfig: these pragmas make every runner compile JSX alike.
/* @jsxRuntime automatic */
/* @jsxImportSource react */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ExecutionApprovalDecision } from "@taskweaver/core";
import { Box, Text, useInput, useStdin } from "ink";
import { useRef, useState } from "react";
import type { PendingApproval } from "./controller.js";
import { EMPTY_INPUT, normalizeNewlines, reduceInput, type InputState } from "./input-state.js";
import { BlockHeader, CodeText } from "./post-view.js";
import { PromptInput } from "./prompt-input.js";

/** Options of {@link editInExternalEditor}. */
export interface ExternalEditOptions {
  /** The editor command (`$VISUAL` or `$EDITOR`), run by `sh` with the file as its argument. */
  editor: string;
  code: string;
  /** Leaves raw mode for the editor and enters it again after. */
  setRawMode?: (raw: boolean) => void;
}

/**
 * Opens the code in the user's editor and waits for it to close: the code goes to a temporary
 * `.py` file, the editor gets the terminal (raw mode off, the event loop held, so Ink draws
 * nothing meanwhile), and the file as saved is the result. Undefined when the editor failed.
 */
export function editInExternalEditor(options: ExternalEditOptions): string | undefined {
  const directory = mkdtempSync(join(tmpdir(), "taskweaver-edit-"));
  const file = join(directory, "code.py");
  writeFileSync(file, options.code.endsWith("\n") ? options.code : `${options.code}\n`);
  options.setRawMode?.(false);
  try {
    // `sh -c` so that an editor with arguments (`code --wait`) works as in git.
    const result = spawnSync("sh", ["-c", `${options.editor} "$1"`, "sh", file], { stdio: "inherit" });
    if (result.error || result.status !== 0) return undefined;
    return readFileSync(file, "utf8").replace(/\n+$/, "");
  } finally {
    options.setRawMode?.(true);
    rmSync(directory, { recursive: true, force: true });
  }
}

/** Moves the cursor one line up or down, keeping the column where the line is long enough. */
function moveLine(state: InputState, direction: -1 | 1): InputState {
  const { text, cursor } = state;
  const start = text.lastIndexOf("\n", cursor - 1) + 1;
  const column = cursor - start;
  if (direction < 0) {
    if (start === 0) return state;
    const previousStart = text.lastIndexOf("\n", start - 2) + 1;
    return { ...state, cursor: Math.min(previousStart + column, start - 1) };
  }
  const end = text.indexOf("\n", cursor);
  if (end === -1) return state;
  const nextEnd = text.indexOf("\n", end + 1);
  return { ...state, cursor: Math.min(end + 1 + column, nextEnd === -1 ? text.length : nextEnd) };
}

/** A multi-line code editor inside the TUI, for when no `$EDITOR` is set. */
export function CodeEditor({
  code,
  onDone,
  onCancel,
}: {
  code: string;
  /** Ctrl-D: run the edited code. */
  onDone: (code: string) => void;
  /** Esc: back to the question. */
  onCancel: () => void;
}) {
  const [state, setState] = useState<InputState>(() =>
    reduceInput(EMPTY_INPUT, { type: "insert", text: code }),
  );
  const stateRef = useRef(state);
  const update = (next: InputState) => {
    stateRef.current = next;
    setState(next);
  };
  useInput((input, key) => {
    const current = stateRef.current;
    if (key.ctrl && input === "d") return onDone(current.text);
    if (key.escape) return onCancel();
    if (key.return) return update(reduceInput(current, { type: "insert", text: "\n" }));
    if (key.upArrow) return update(moveLine(current, -1));
    if (key.downArrow) return update(moveLine(current, 1));
    if (key.leftArrow) return update(reduceInput(current, { type: "left" }));
    if (key.rightArrow) return update(reduceInput(current, { type: "right" }));
    if (key.home || (key.ctrl && input === "a")) return update(reduceInput(current, { type: "home" }));
    if (key.end || (key.ctrl && input === "e")) return update(reduceInput(current, { type: "end" }));
    if (key.backspace || key.delete) return update(reduceInput(current, { type: "backspace" }));
    if (key.tab) return update(reduceInput(current, { type: "insert", text: "    " }));
    if (key.ctrl || key.meta || input === "") return;
    update(reduceInput(current, { type: "insert", text: normalizeNewlines(input) }));
  });
  const { text, cursor } = state;
  const at = text[cursor];
  return (
    <Box flexDirection="column">
      <Text dimColor>Edit the code. Ctrl-D: run it Esc: back</Text>
      <Text>
        {text.slice(0, cursor)}
        <Text inverse>{at === undefined || at === "\n" ? " " : at}</Text>
        {at === "\n" ? `\n${text.slice(cursor + 1)}` : text.slice(cursor + 1)}
      </Text>
    </Box>
  );
}

export interface ApprovalPromptProps {
  approval: PendingApproval;
  onDecision: (decision: ExecutionApprovalDecision) => void;
  /** Ctrl-C: reject and stop the round. */
  onInterrupt: () => void;
  /** `$VISUAL` or `$EDITOR`; without one, `e` opens the editor inside the TUI. */
  editor?: string;
  /** Replaces {@link editInExternalEditor} (tests). */
  editExternally?: (options: ExternalEditOptions) => string | undefined;
}

/**
 * Asks before code runs: the code highlighted, what verification found, and
 * `[y] run  [n] reject  [e] edit`. `n` asks for an optional reason the model is told.
 */
export function ApprovalPrompt({
  approval,
  onDecision,
  onInterrupt,
  editor,
  editExternally = editInExternalEditor,
}: ApprovalPromptProps) {
  const [mode, setMode] = useState<"ask" | "reason" | "edit">("ask");
  const [note, setNote] = useState<string | undefined>();
  const { stdin } = useStdin();
  const setRawMode = (raw: boolean) => {
    // Ink's own setRawMode counts its users; the editor needs the terminal as it is outside Ink.
    if (stdin.isTTY) (stdin as NodeJS.ReadStream).setRawMode(raw);
  };

  useInput(
    (input, key) => {
      if (key.ctrl && input === "c") return onInterrupt();
      const choice = input.toLowerCase();
      if (choice === "y") return onDecision({ decision: "approve" });
      if (choice === "n") return setMode("reason");
      if (choice === "e") {
        if (!editor) return setMode("edit");
        const edited = editExternally({ editor, code: approval.code, setRawMode });
        if (edited === undefined) return setNote(`The editor (${editor}) failed; the code is unchanged.`);
        if (edited.trim() === "") return setNote("The edited code is empty; nothing was approved.");
        return onDecision({ decision: "approve", code: edited });
      }
    },
    { isActive: mode === "ask" },
  );

  return (
    <Box flexDirection="column" borderStyle="round" borderColor="yellow" paddingX={1}>
      <Text bold color="yellow">{`${approval.role} wants to run this code:`}</Text>
      {mode === "edit" ? (
        <CodeEditor
          code={approval.code}
          onDone={(code) => {
            if (code.trim() === "") {
              setNote("The edited code is empty; nothing was approved.");
              setMode("ask");
              return;
            }
            onDecision({ decision: "approve", code });
          }}
          onCancel={() => setMode("ask")}
        />
      ) : (
        <>
          <BlockHeader title="PYTHON" />
          <CodeText code={approval.code} />
        </>
      )}
      {approval.problems.length > 0 ? (
        <Box flexDirection="column">
          <Text color="red">Code verification found:</Text>
          {approval.problems.map((problem, index) => (
            <Text key={index} color="red">{`  line ${problem.line}: ${problem.message}`}</Text>
          ))}
        </Box>
      ) : null}
      {note ? <Text color="yellow">{note}</Text> : null}
      {mode === "ask" ? (
        <Text>
          <Text bold color="green">
            [y]
          </Text>
          {" run  "}
          <Text bold color="red">
            [n]
          </Text>
          {" reject  "}
          <Text bold color="cyan">
            [e]
          </Text>
          {" edit"}
          <Text dimColor>{"   Ctrl-C: reject and stop the round"}</Text>
        </Text>
      ) : null}
      {mode === "reason" ? (
        <PromptInput
          history={[]}
          prompt="Why not? (optional, Enter to reject): "
          onSubmit={(text) => {
            const reason = text.trim();
            onDecision(reason === "" ? { decision: "reject" } : { decision: "reject", reason });
          }}
          onInterrupt={() => onInterrupt()}
        />
      ) : null}
    </Box>
  );
}
