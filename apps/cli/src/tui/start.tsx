// `pnpm taskweaver` runs tsx from the repository root, whose settings do not apply the React
// JSX runtime of this package's tsconfig: these pragmas make every runner compile JSX alike.
/* @jsxRuntime automatic */
/* @jsxImportSource react */
import { render } from "ink";
import type { ChatApp } from "../app-types.js";
import { ChatScreen } from "./chat-screen.js";
import { createChatController } from "./controller.js";
import { defaultHistoryPath, loadHistory } from "./history.js";

/** Options of {@link startInteractive}. */
export interface StartInteractiveOptions {
  app: ChatApp;
  demo: boolean;
  /** The demo's recorded request and files. */
  demoScript?: { request: string; files: { name: string; path: string }[] };
  /** The command hints tell the user to type. @default "taskweaver" */
  command?: string;
  /** Files attached to the first request (`--file`). @default none */
  files?: { name: string; path: string }[];
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  /** Aborting leaves the TUI as /exit does (the terminal hung up, SIGTERM). */
  signal?: AbortSignal;
  /** @default ~/.taskweaver/history */
  historyPath?: string;
  /** `--yes`: run code that needs approval without asking. @default false */
  approveAll?: boolean;
  /** `$VISUAL` or `$EDITOR`, for `e` (edit) when code asks for approval. @default the TUI's own editor */
  editor?: string;
}

/** Enables bracketed paste, so pasted line breaks can be told from Enter. */
const BRACKETED_PASTE_ON = "\u001B[?2004h";
const BRACKETED_PASTE_OFF = "\u001B[?2004l";

/** Runs the Ink TUI until the user leaves; resolves with the exit code. */
export async function startInteractive(options: StartInteractiveOptions): Promise<number> {
  const history = loadHistory(options.historyPath ?? defaultHistoryPath());
  const controller = createChatController({
    app: options.app,
    demo: options.demo,
    demoScript: options.demoScript,
    command: options.command,
    files: options.files,
    approveAll: options.approveAll ?? false,
    history,
  });
  const leave = () => void controller.exit();
  options.signal?.addEventListener("abort", leave, { once: true });
  // Input closed (terminal gone): nobody can type /exit any more.
  options.stdin.once("end", leave);
  options.stdout.write(BRACKETED_PASTE_ON);
  try {
    const instance = render(<ChatScreen controller={controller} {...(options.editor ? { editor: options.editor } : {})} />, {
      stdin: options.stdin,
      stdout: options.stdout,
      exitOnCtrlC: false,
    });
    void controller.start();
    await instance.waitUntilExit();
  } finally {
    options.signal?.removeEventListener("abort", leave);
    options.stdin.off("end", leave);
    options.stdout.write(BRACKETED_PASTE_OFF);
  }
  return 0;
}
