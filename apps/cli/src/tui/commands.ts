import type { Session, SessionSnapshotSummary } from "@taskweaver/core";

/** The console's slash commands, with the words `/help` shows. */
export const COMMANDS: readonly { name: string; aliases?: string[]; usage: string; help: string }[] = [
  {
    name: "load",
    aliases: ["file"],
    usage: "/load <file>",
    help: "attach a file to your next message (also /file)",
  },
  { name: "reset", usage: "/reset", help: "start a new session (new kernel, empty memory)" },
  { name: "save", usage: "/save", help: "save this session as experience for later sessions" },
  {
    name: "save-state",
    usage: "/save-state",
    help: "save the kernel's variables, imports and functions, and stop it; the next message restores them",
  },
  { name: "info", usage: "/info", help: "show the session, model, runtime, kernel memory and usage" },
  { name: "expand", usage: "/expand", help: "show the last folded result in full" },
  { name: "clear", usage: "/clear", help: "clear the screen" },
  { name: "help", usage: "/help", help: "show this help" },
  {
    name: "exit",
    aliases: ["quit", "bye"],
    usage: "/exit",
    help: "leave and stop the kernel (also /quit, /bye, Ctrl-C)",
  },
];

/** A parsed command line such as `/load data.csv`. */
export interface ParsedCommand {
  /** The canonical name (`file` becomes `load`), or the unknown name as typed. */
  name: string;
  argument: string;
  known: boolean;
}

/** `undefined` when the input is a message rather than a command. */
export function parseCommand(input: string): ParsedCommand | undefined {
  const trimmed = input.trim();
  // "/path/to/x is big" reads as a message about a path, not a command.
  const match = /^\/([A-Za-z][A-Za-z-]*)(?:\s+([\s\S]*))?$/.exec(trimmed);
  if (!match) return undefined;
  const typed = match[1]!.toLowerCase();
  const command = COMMANDS.find(
    (candidate) => candidate.name === typed || candidate.aliases?.includes(typed),
  );
  return { name: command?.name ?? typed, argument: (match[2] ?? "").trim(), known: command !== undefined };
}

/** The text of `/help`. */
export function helpText(): string {
  const width = Math.max(...COMMANDS.map((command) => command.usage.length));
  return [
    "Type a request and press Enter. Pasted line breaks stay in the request.",
    "Up/Down: earlier requests. Ctrl-C: stop the running round; at an empty prompt, leave.",
    ...COMMANDS.map((command) => `  ${command.usage.padEnd(width)}  ${command.help}`),
  ].join("\n");
}

/** Unquotes a file argument: `/load "my data.csv"` names `my data.csv`. */
export function unquote(argument: string): string {
  const match = /^(["'])(.*)\1$/.exec(argument);
  return match ? match[2]! : argument;
}

/** What `/save-state` needs of the session; a session without snapshots leaves the methods out. */
export type SaveStateSession = Pick<Session, "id"> & Partial<Pick<Session, "saveSnapshot" | "stopKernel">>;

/** A notice of the console: its text and tone. */
export interface CommandNotice {
  text: string;
  tone: "info" | "warning" | "error";
}

/**
 * `/save-state`: saves the kernel's state to the session's folder and stops the kernel, which
 * frees its memory; the next message starts a kernel that restores the state (and tells the
 * model what came back). When the save fails the kernel keeps running, state and all.
 */
export async function saveState(session: SaveStateSession): Promise<CommandNotice> {
  if (!session.saveSnapshot || !session.stopKernel) {
    return {
      text: "Saving the kernel's state is not available in this version of TaskWeaver.",
      tone: "warning",
    };
  }
  let summary: SessionSnapshotSummary;
  try {
    summary = await session.saveSnapshot();
  } catch (error) {
    return {
      text: `Could not save the kernel's state (the kernel keeps running): ${error instanceof Error ? error.message : String(error)}`,
      tone: "error",
    };
  }
  if (!summary.saved) return { text: "No kernel is running: there is no state to save.", tone: "info" };
  await session.stopKernel();
  return { text: describeSavedState(summary), tone: summary.lost.length > 0 ? "warning" : "info" };
}

/** The notice after `/save-state`: what was saved, where, and what was not, by name. */
export function describeSavedState(summary: SessionSnapshotSummary): string {
  const kept = [
    ...summary.values.map((value) => value.name),
    ...summary.modules.map((item) =>
      item.name === item.module ? item.name : `${item.module} as ${item.name}`,
    ),
  ];
  const lines = [
    `Saved the kernel's state (${kept.length > 0 ? kept.join(", ") : "nothing to keep"}; ${formatBytes(summary.bytes)}) to ${summary.path}.`,
    "The kernel is stopped; your next message starts one that restores it.",
  ];
  if (summary.lost.length > 0) {
    lines.push(`Not saved: ${summary.lost.map((item) => `${item.name} (${item.reason})`).join("; ")}.`);
  }
  return lines.join("\n");
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
