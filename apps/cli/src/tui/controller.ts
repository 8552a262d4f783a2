import { existsSync, statSync } from "node:fs";
import { basename, resolve } from "node:path";
import {
  AbortedError,
  addUsage,
  formatUsageSummary,
  type ApproveExecution,
  type ExecutionApprovalDecision,
  type RoundUsage,
  type TaskWeaverEvent,
} from "@taskweaver/core";
import type { AttachedFile, ChatApp, ChatSession } from "../app-types.js";
import { describeKernelForInfo } from "../render/kernel-info.js";
import { applyEvent, createRoundView, type PostView, type RoundView } from "../render/conversation.js";
import { describeUsageForInfo } from "../render/usage.js";
import { roundErrorMessage } from "../round-errors.js";
import { describePluginsForInfo, watchPluginProblems } from "../plugin-notices.js";
import { helpText, parseCommand, saveState, unquote } from "./commands.js";
import type { InputHistory } from "./history.js";

/** Something printed once in the conversation (Ink's `<Static>` items). */
export type TranscriptItem =
  | { kind: "opening"; id: string; demo: boolean }
  | { kind: "human"; id: string; text: string; files: string[] }
  | { kind: "post"; id: string; post: PostView; workingDirectory: string | undefined; interrupted: boolean }
  | { kind: "error"; id: string; message: string }
  | { kind: "notice"; id: string; text: string; tone: "info" | "warning" | "error" }
  | { kind: "expanded"; id: string; title: string; text: string };

/** Code the round waits to run until the user answers (`code_interpreter.require_confirmation`). */
export interface PendingApproval {
  approvalId: string;
  /** Alias of the role that wants to run it. */
  role: string;
  code: string;
  /** What code verification found (1-based lines). */
  problems: readonly { line: number; message: string }[];
}

/** Everything the TUI shows. */
export interface ChatState {
  /** Finished items, printed once and never redrawn. */
  readonly items: readonly TranscriptItem[];
  /** Changes on `/clear`, so the static part starts over. */
  readonly screenKey: number;
  /** The running round, while there is one. */
  readonly round: RoundView | undefined;
  /** When the running round started (ms since epoch). */
  readonly roundStartedAt: number | undefined;
  /** The active role and what it is doing. */
  readonly activity: { role: string; status: string } | undefined;
  /** Files attached to the next message. */
  readonly pendingFiles: readonly { name: string; path: string }[];
  readonly session:
    { id: string; roles: readonly string[]; workingDirectory: string | undefined } | undefined;
  readonly phase: "starting" | "ready" | "running" | "exiting" | "exited";
  /** True when the TUI replays a recorded conversation (`--demo`). */
  readonly demo: boolean;
  /** The code waiting for the user's decision, while the round waits. */
  readonly approval: PendingApproval | undefined;
}

/** Options of {@link createChatController}. */
export interface ChatControllerOptions {
  app: ChatApp;
  /** Labels the UI as a replay. @default false */
  demo?: boolean;
  /** The demo's recorded request (offered in the input) and its files (attached). */
  demoScript?: { request: string; files: { name: string; path: string }[] };
  /**
   * The command hints tell the user to type (in `--demo`, how to use a real model).
   * @default "taskweaver"
   */
  command?: string;
  /** Files attached to the first request (`--file`), after the demo's. @default none */
  files?: { name: string; path: string }[];
  /** `--yes`: run code that needs approval without asking. @default false (ask) */
  approveAll?: boolean;
  history: InputHistory;
  /** Relative `/load` paths are resolved against it. @default process.cwd() */
  cwd?: string;
  /** @default Date.now */
  now?: () => number;
  /** Called once, after the app is closed, when the user leaves. */
  onExit?: () => void;
  /**
   * How long leaving waits for the kernels to stop; past it the CLI leaves anyway (the
   * kernels die with the process).
   * @default 10000
   */
  closeTimeoutMs?: number;
}

/** The TUI's behaviour without any React: state, commands, rounds. */
export interface ChatController {
  getState(): ChatState;
  subscribe(listener: () => void): () => void;
  /** Opens the first session. */
  start(): Promise<void>;
  /** False when `submit` would refuse the text now (a round is running and it is not /exit). */
  accepts(text: string): boolean;
  /** Handles one line of input: a command or a request. */
  submit(text: string): Promise<void>;
  /** Ctrl-C: stops the running round (rejecting the code it waits to run); false when nothing was running. */
  interrupt(): boolean;
  /** The user's decision on the code in `approval`; ignored when nothing waits. */
  answerApproval(decision: ExecutionApprovalDecision): void;
  /** Leaves: stops the running round and the kernel, then calls `onExit`. */
  exit(): Promise<void>;
  readonly history: InputHistory;
  /** Text the input starts with (the demo's request). */
  readonly initialInput: string;
}

/** Results longer than this many lines are folded. */
export const FOLD_LINES = 20;
/** Lines of a folded result that stay visible. */
export const FOLDED_VISIBLE_LINES = 12;

export function createChatController(options: ChatControllerOptions): ChatController {
  const { app, history } = options;
  const now = options.now ?? Date.now;
  const cwd = options.cwd ?? process.cwd();
  const listeners = new Set<() => void>();
  let itemCounter = 0;
  let session: ChatSession | undefined;
  let lastFolded: { title: string; text: string } | undefined;
  let exitPromise: Promise<void> | undefined;
  /** Set by Ctrl-C while a round runs; cleared when the next request starts. */
  let stopRequested = false;
  let state: ChatState = {
    items: [{ kind: "opening", id: "opening", demo: options.demo ?? false }],
    screenKey: 0,
    round: undefined,
    roundStartedAt: undefined,
    activity: undefined,
    pendingFiles: [...(options.demoScript?.files ?? []), ...(options.files ?? [])],
    session: undefined,
    phase: "starting",
    demo: options.demo ?? false,
    approval: undefined,
  };
  /** Releases the round waiting in `state.approval`. */
  let decide: ((decision: ExecutionApprovalDecision) => void) | undefined;

  const set = (patch: Partial<ChatState>) => {
    state = { ...state, ...patch };
    for (const listener of listeners) listener();
  };
  const nextId = () => `item-${++itemCounter}`;
  const addItems = (...items: TranscriptItem[]) => set({ items: [...state.items, ...items] });
  const notice = (text: string, tone: "info" | "warning" | "error" = "info") =>
    addItems({ kind: "notice", id: nextId(), text, tone });

  const describeSession = (value: ChatSession) => ({
    id: value.id,
    roles: [...value.roles],
    workingDirectory: value.workingDirectory,
  });

  /** What the open session's rounds used, for `/info`. */
  let roundUsages: RoundUsage[] = [];
  let stopWatchingPlugins: (() => void) | undefined;
  const openSession = async () => {
    stopWatchingPlugins?.();
    roundUsages = [];
    session = await app.createSession();
    stopWatchingPlugins = watchPluginProblems(session, (line) => notice(line.charAt(0).toUpperCase() + line.slice(1), "warning"));
    set({ session: describeSession(session) });
  };

  const rememberFolded = (post: PostView) => {
    for (const block of post.blocks) {
      if (block.type === "execution_result" && block.content.split("\n").length > FOLD_LINES) {
        lastFolded = { title: `RESULT of ${post.role}`, text: block.content };
      }
    }
  };

  const onEvent = (event: TaskWeaverEvent) => {
    if (!state.round) return;
    if (event.type === "round-start") {
      set({ round: createRoundView(event.roundId, event.userQuery) });
      return;
    }
    const round = applyEvent(state.round, event);
    const patch: { -readonly [K in keyof ChatState]?: ChatState[K] } = { round };
    if (event.type === "post-start") patch.activity = { role: event.role, status: "starting" };
    if (event.type === "post-status") patch.activity = { role: event.role, status: event.status };
    if (event.type === "execution-approval-result") {
      const line = approvalNotice(event);
      if (line) patch.items = [...state.items, line];
    }
    if (event.type === "post-end") {
      const post = round.posts.find((candidate) => candidate.id === event.post.id);
      if (post && post.role !== "User") {
        rememberFolded(post);
        patch.items = [
          ...state.items,
          {
            kind: "post",
            id: nextId(),
            post,
            workingDirectory: session?.workingDirectory,
            interrupted: false,
          },
        ];
      }
    }
    if (event.type === "round-error") {
      // Show what had streamed of an unfinished post, so an interrupted step stays visible.
      const unfinished = round.posts.filter((post) => !post.ended && post.role !== "User");
      const items: TranscriptItem[] = unfinished.map((post) => ({
        kind: "post",
        id: nextId(),
        post,
        workingDirectory: session?.workingDirectory,
        interrupted: true,
      }));
      // The session sets lastError before it sends round-error: the typed error, not its code.
      // "Stopped" answers the user's Ctrl-C, so it needs both: asked to stop, and stopped.
      const error = session?.lastError;
      if (stopRequested && AbortedError.isInstance(error)) {
        items.push({
          kind: "notice",
          id: nextId(),
          text: "Stopped. The session and its variables are kept; send another request.",
          tone: "warning",
        });
      } else {
        const demo = state.demo
          ? { request: options.demoScript?.request, command: options.command ?? "taskweaver" }
          : undefined;
        items.push({ kind: "error", id: nextId(), message: roundErrorMessage(error, event.error.message, demo) });
      }
      patch.items = [...(patch.items ?? state.items), ...items];
    }
    if ((event.type === "round-end" || event.type === "round-error") && event.usage) {
      roundUsages.push(event.usage);
      const line: TranscriptItem = { kind: "notice", id: nextId(), text: formatUsageSummary(event.usage), tone: "info" };
      patch.items = [...(patch.items ?? state.items), line];
    }
    set(patch);
  };

  /** Asks the user (through `state.approval`) and waits; the core bounds the wait and aborts it when the round stops. */
  const askApproval: ApproveExecution = (request) =>
    new Promise<ExecutionApprovalDecision>((resolve) => {
      const done = () => {
        request.signal.removeEventListener("abort", gone);
        if (decide === answer) decide = undefined;
        if (state.approval?.approvalId === request.approvalId) set({ approval: undefined });
      };
      const answer = (decision: ExecutionApprovalDecision) => {
        done();
        resolve(decision);
      };
      // Timed out or stopped: the core no longer reads the decision; the question goes away.
      const gone = () => answer({ decision: "reject" });
      decide = answer;
      request.signal.addEventListener("abort", gone, { once: true });
      set({
        approval: {
          approvalId: request.approvalId,
          role: request.role,
          code: request.code,
          problems: request.problems.map(({ line, message }) => ({ line, message })),
        },
      });
    });
  const approveExecution: ApproveExecution = options.approveAll ? () => ({ decision: "approve" }) : askApproval;

  /** A line in the conversation for each decision, so the scrollback says what was decided. */
  const approvalNotice = (event: Extract<TaskWeaverEvent, { type: "execution-approval-result" }>): TranscriptItem | undefined => {
    if (options.approveAll) return undefined;
    const text =
      event.decision === "approved"
        ? "Approved: the code runs."
        : event.decision === "edited"
          ? "Approved with your edits: the edited code runs."
          : event.decision === "rejected"
            ? `Rejected: the code did not run${event.reason ? ` (${event.reason})` : ""}.`
            : `Not run: ${event.reason ?? "no answer came in time"}.`;
    return { kind: "notice", id: nextId(), text, tone: event.decision === "approved" || event.decision === "edited" ? "info" : "warning" };
  };

  const sendRequest = async (text: string) => {
    if (!session) {
      notice("No session is open; try /reset.", "error");
      return;
    }
    const files: AttachedFile[] = state.pendingFiles.map((file) => ({ name: file.name, path: file.path }));
    history.add(text);
    stopRequested = false;
    addItems({ kind: "human", id: nextId(), text, files: files.map((file) => file.name) });
    set({
      phase: "running",
      pendingFiles: [],
      // A placeholder until round-start gives the round its id.
      round: createRoundView("", text),
      roundStartedAt: now(),
      activity: undefined,
    });
    try {
      await session.sendMessage(text, { onEvent, files, approveExecution });
    } catch (error) {
      addItems({
        kind: "error",
        id: nextId(),
        message: error instanceof Error ? error.message : String(error),
      });
    }
    set({
      phase: state.phase === "running" ? "ready" : state.phase,
      round: undefined,
      roundStartedAt: undefined,
      activity: undefined,
    });
  };

  const loadFile = (argument: string) => {
    if (argument === "") {
      notice("Usage: /load <file>. The file goes with your next message.", "warning");
      return;
    }
    const path = resolve(cwd, unquote(argument));
    if (!existsSync(path) || !statSync(path).isFile()) {
      notice(`No such file: ${path}`, "error");
      return;
    }
    const name = basename(path);
    set({ pendingFiles: [...state.pendingFiles.filter((file) => file.name !== name), { name, path }] });
    notice(`Attached ${name}; it goes with your next message.`);
  };

  const info = async () => {
    const config = app.config;
    const model = state.demo
      ? "replay of a recorded conversation (--demo)"
      : (config.get("llm.model") ?? "(not set)");
    const mode = config.get("execution_service.kernel_mode");
    const python = config.get("execution_service.python");
    const lines = [
      `Session:  ${state.session?.id ?? "(none)"}`,
      `Roles:    ${state.session?.roles.join(", ") ?? "(none)"}`,
      `Model:    ${model}`,
      `Runtime:  ${mode} kernel${python ? ` (${python})` : ""}`,
      `App dir:  ${config.appDir}`,
      `Workdir:  ${state.session?.workingDirectory ?? "(unknown)"}`,
    ];
    if (session?.describeKernel) lines.push(...describeKernelForInfo(await session.describeKernel().catch(() => undefined)));
    const plugins = describePluginsForInfo(session?.plugins);
    if (plugins.length > 0) lines.push("Plugins:", ...plugins);
    if (roundUsages.length > 0) lines.push(...describeUsageForInfo(addUsage(roundUsages), roundUsages.length));
    notice(lines.join("\n"));
  };

  const controller: ChatController = {
    history,
    initialInput: options.demoScript?.request ?? "",
    getState: () => state,
    accepts: (text) =>
      state.phase === "ready" || (state.phase === "running" && parseCommand(text.trim())?.name === "exit"),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async start() {
      try {
        await openSession();
        set({ phase: "ready" });
      } catch (error) {
        set({ phase: "ready" });
        notice(
          `Could not open a session: ${error instanceof Error ? error.message : String(error)}`,
          "error",
        );
      }
    },
    async submit(raw) {
      const text = raw.trim();
      if (state.phase === "exiting" || state.phase === "exited") return;
      if (text === "") {
        notice("Type a request, or /help for commands.");
        return;
      }
      const command = parseCommand(text);
      if (state.phase === "running" && command?.name !== "exit") {
        notice("A round is running: wait for the answer, or press Ctrl-C to stop it.", "warning");
        return;
      }
      if (!command) return sendRequest(raw.replace(/^\n+|\s+$/g, ""));
      history.add(text);
      switch (command.name) {
        case "exit":
          return controller.exit();
        case "help":
          return notice(helpText());
        case "load":
          return loadFile(command.argument);
        case "info":
          return info();
        case "clear":
          set({ items: [], screenKey: state.screenKey + 1 });
          return;
        case "expand":
          if (!lastFolded) return notice("There is no folded result to expand.");
          return addItems({ kind: "expanded", id: nextId(), title: lastFolded.title, text: lastFolded.text });
        case "save": {
          if (!session?.saveExperience) {
            return notice("Saving experience is not available in this version of TaskWeaver.", "warning");
          }
          try {
            await session.saveExperience();
            return notice(`Saved session ${session.id} as experience.`);
          } catch (error) {
            return notice(
              `Could not save: ${error instanceof Error ? error.message : String(error)}`,
              "error",
            );
          }
        }
        case "save-state": {
          if (!session) return notice("No session is open; try /reset.", "error");
          const result = await saveState(session);
          return notice(result.text, result.tone);
        }
        case "reset": {
          const previous = session;
          session = undefined;
          set({ session: undefined, pendingFiles: [] });
          await previous?.stop().catch(() => undefined);
          try {
            await openSession();
            return notice(`New session ${session!.id}: memory and variables start empty.`);
          } catch (error) {
            return notice(
              `Could not open a session: ${error instanceof Error ? error.message : String(error)}`,
              "error",
            );
          }
        }
        default:
          return notice(`Unknown command /${command.name}. Type /help for the commands.`, "warning");
      }
    },
    answerApproval(decision) {
      decide?.(decision);
    },
    interrupt() {
      if (state.phase !== "running" || !session) return false;
      // Asked and answered with Ctrl-C: the code does not run and the round stops.
      decide?.({ decision: "reject", reason: "The user stopped the round." });
      set({ activity: { role: state.activity?.role ?? "TaskWeaver", status: "stopping" } });
      stopRequested = true;
      void session.interrupt();
      return true;
    },
    exit() {
      exitPromise ??= (async () => {
        set({ phase: "exiting", activity: undefined });
        notice("Stopping the kernel...");
        stopRequested = true;
        const closing = (async () => {
          if (session) await session.interrupt().catch(() => undefined);
          await app.close().catch(() => undefined);
          return true;
        })();
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), options.closeTimeoutMs ?? 10_000);
        });
        const closed = await Promise.race([closing, timeout]);
        clearTimeout(timer);
        if (!closed) notice("The kernel did not stop in time; leaving anyway.", "warning");
        set({ phase: "exited" });
        options.onExit?.();
      })();
      return exitPromise;
    },
  };
  return controller;
}
