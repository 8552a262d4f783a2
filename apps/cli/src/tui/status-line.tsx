// `pnpm taskweaver` runs tsx from the repository root, whose settings do not apply the React
// JSX runtime of this package's tsconfig: these pragmas make every runner compile JSX alike.
/* @jsxRuntime automatic */
/* @jsxImportSource react */
import { Text } from "ink";

export const SPINNER_FRAMES = ["|", "/", "-", "\\"];

/** `75` -> `1m 15s`, `9` -> `9s`. */
export function formatElapsed(milliseconds: number): string {
  const seconds = Math.max(0, Math.floor(milliseconds / 1000));
  if (seconds < 60) return `${seconds}s`;
  return `${Math.floor(seconds / 60)}m ${String(seconds % 60).padStart(2, "0")}s`;
}

export interface StatusLineProps {
  /** The role at work and what it is doing; `undefined` while idle. */
  activity: { role: string; status: string } | undefined;
  /** True while a round runs. */
  running: boolean;
  elapsedMs: number;
  frame: number;
  demo: boolean;
  /** True while the session opens: keys are not read yet. @default false */
  starting?: boolean;
}

/** One line under the conversation: spinner, active role, what it does, elapsed time. */
export function StatusLine({ activity, running, elapsedMs, frame, demo, starting = false }: StatusLineProps) {
  const label = demo ? <Text color="yellow">[demo replay] </Text> : null;
  if (starting) {
    return (
      <Text dimColor>
        {label}
        Opening a session...
      </Text>
    );
  }
  if (!running) {
    return (
      <Text dimColor>
        {label}
        Enter: send · Up/Down: history · /help: commands · Ctrl-C: leave
      </Text>
    );
  }
  const spinner = SPINNER_FRAMES[frame % SPINNER_FRAMES.length];
  const role = activity?.role ?? "TaskWeaver";
  const status = activity?.status ?? "starting";
  return (
    <Text>
      {label}
      <Text color="cyan">{spinner} </Text>
      <Text bold>{role}</Text>
      <Text>{` is ${status} · ${formatElapsed(elapsedMs)}`}</Text>
      <Text dimColor> · Ctrl-C: stop</Text>
    </Text>
  );
}
