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
  { name: "info", usage: "/info", help: "show the session id, roles, model and runtime" },
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
  const match = /^\/([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(trimmed);
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
