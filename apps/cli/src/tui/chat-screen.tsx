// `pnpm taskweaver` runs tsx from the repository root, whose settings do not apply the React
// JSX runtime of this package's tsconfig: these pragmas make every runner compile JSX alike.
/* @jsxRuntime automatic */
/* @jsxImportSource react */
import { Box, Static, Text, useApp, useStdout } from "ink";
import { useEffect, useState, useSyncExternalStore } from "react";
import { activePost } from "../render/conversation.js";
import { ApprovalPrompt, type ApprovalPromptProps } from "./approval-prompt.js";
import type { ChatController, TranscriptItem } from "./controller.js";
import { Opening } from "./opening.js";
import { BlockHeader, FoldedText, PostView } from "./post-view.js";
import { PromptInput } from "./prompt-input.js";
import { StatusLine } from "./status-line.js";

/** Erase the screen and the scrollback, cursor home. */
export const CLEAR_SCREEN = "\u001B[2J\u001B[3J\u001B[H";

/** One printed item of the conversation. */
export function TranscriptItemView({ item }: { item: TranscriptItem }) {
  switch (item.kind) {
    case "opening":
      return <Opening demo={item.demo} />;
    case "human":
      return (
        <Box flexDirection="column">
          <Text>
            <Text bold color="blue">
              Human:{" "}
            </Text>
            {item.text}
          </Text>
          {item.files.length > 0 ? <Text dimColor>{`(attached: ${item.files.join(", ")})`}</Text> : null}
        </Box>
      );
    case "post":
      return (
        <PostView post={item.post} workingDirectory={item.workingDirectory} interrupted={item.interrupted} />
      );
    case "error":
      return <Text color="red">{`TaskWeaver: [error] ${item.message}`}</Text>;
    case "notice":
      return (
        <Text color={item.tone === "error" ? "red" : item.tone === "warning" ? "yellow" : "gray"}>
          {item.text}
        </Text>
      );
    case "expanded":
      return (
        <Box flexDirection="column">
          <BlockHeader title={item.title} />
          <Text>{item.text}</Text>
        </Box>
      );
  }
}

/** Ticks while a round runs, for the spinner and the elapsed time. */
function useTicker(running: boolean, intervalMs = 100) {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => setTick((value) => value + 1), intervalMs);
    return () => clearInterval(timer);
  }, [running, intervalMs]);
  return tick;
}

export interface ChatScreenProps {
  controller: ChatController;
  /** @default Date.now */
  now?: () => number;
  /** `$VISUAL` or `$EDITOR`, for editing code before it runs; without one the TUI's own editor is used. */
  editor?: string;
  /** Replaces the external editor (tests). */
  editExternally?: ApprovalPromptProps["editExternally"];
}

/**
 * The whole TUI: printed conversation (static), the post streaming now, the status line and
 * the input. All behaviour lives in the controller; this only draws its state.
 */
export function ChatScreen({ controller, now = Date.now, editor, editExternally }: ChatScreenProps) {
  const state = useSyncExternalStore(controller.subscribe, controller.getState);
  const { exit } = useApp();
  const { write } = useStdout();
  // `/clear`: wipe the screen and scrollback; the static part starts over (new key).
  useEffect(() => {
    if (state.screenKey > 0) write(CLEAR_SCREEN);
  }, [state.screenKey, write]);
  // Leave only after the last frame (without prompt and status line) has been drawn.
  useEffect(() => {
    if (state.phase === "exited") exit();
  }, [state.phase, exit]);
  const running = state.phase === "running";
  const tick = useTicker(running);
  const streaming = state.round ? activePost(state.round) : undefined;
  const showStreaming = streaming && streaming.role !== "User";
  return (
    <Box flexDirection="column">
      <Static key={state.screenKey} items={state.items as TranscriptItem[]}>
        {(item) => (
          <Box key={item.id} flexDirection="column">
            <TranscriptItemView item={item} />
          </Box>
        )}
      </Static>
      {showStreaming ? (
        <PostView post={streaming} workingDirectory={state.session?.workingDirectory} streaming />
      ) : null}
      {state.pendingFiles.length > 0 ? (
        <Text
          dimColor
        >{`Attached to the next message: ${state.pendingFiles.map((file) => file.name).join(", ")}`}</Text>
      ) : null}
      {state.phase === "exited" ? null : (
        <>
          <StatusLine
            activity={state.activity}
            running={running}
            elapsedMs={state.roundStartedAt === undefined ? 0 : now() - state.roundStartedAt}
            frame={tick}
            demo={state.demo}
            starting={state.phase === "starting"}
          />
          {state.approval ? (
            <ApprovalPrompt
              key={state.approval.approvalId}
              approval={state.approval}
              onDecision={(decision) => controller.answerApproval(decision)}
              onInterrupt={() => void controller.interrupt()}
              {...(editor ? { editor } : {})}
              {...(editExternally ? { editExternally } : {})}
            />
          ) : null}
          <PromptInput
            history={controller.history.entries}
            initialText={controller.initialInput}
            isActive={(state.phase === "ready" || state.phase === "running") && !state.approval}
            onSubmit={(text) => {
              // While a round runs, a request is refused and stays in the input to send later.
              const accepted = controller.accepts(text);
              void controller.submit(text);
              return accepted;
            }}
            onInterrupt={(inputWasEmpty) => {
              if (controller.interrupt()) return;
              if (inputWasEmpty) void controller.exit();
            }}
            onEndOfInput={() => void controller.exit()}
          />
        </>
      )}
    </Box>
  );
}

export { FoldedText };
