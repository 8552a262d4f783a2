import { parseArgs } from "node:util";

/**
 * What the command line asks for. This module imports nothing heavy, so `--help` and
 * `--version` answer without loading the core, the executor or Ink.
 */
export type CommandLine =
  | { command: "help" }
  /** The command line could not be understood; `message` says how to fix it. */
  | { command: "invalid"; message: string }
  | { command: "version" }
  /** `taskweaver eval ...`: the arguments after `eval`, parsed by the eval command itself. */
  | { command: "eval"; argv: string[] }
  | {
      command: "chat";
      /** `-p/--project`: the app directory; else found upward from the current directory. */
      projectDir: string | undefined;
      /** `--config key=value`, in order. */
      configAssignments: string[];
      /** `-f/--file PATH`, in order: files attached to the first request (as `/load` does). */
      files: string[];
      /** `--demo`: replay the sample project's recorded conversation, no model needed. */
      demo: boolean;
      /** `--plain`: the plain transcript even on a terminal. */
      plain: boolean;
      /** `-y/--yes`: approve every execution that asks for approval, without asking (transcript). */
      yes: boolean;
    }
  /** `taskweaver mcp`: serve the app as an MCP server over stdio (apps/cli/src/commands/mcp-server.ts). */
  | { command: "mcp"; projectDir: string | undefined; configAssignments: string[] };

export const HELP_TEXT = `Usage: taskweaver [chat] [options]
       taskweaver mcp [-p DIR] [--config KEY=VALUE]
       taskweaver eval CASES... [options]   (run evaluation cases; see taskweaver eval --help)

Chat with TaskWeaver about your data: it plans, writes Python, runs it in a local kernel and
answers. On a terminal it starts an interactive UI; with piped input or output it reads one
request per line and prints a plain transcript.

Options:
  -p, --project DIR       the app directory (holding taskweaver_config.json);
                          default: the nearest such folder at or above the current one
  --config KEY=VALUE      set a config key for this run, e.g. --config llm.model=gpt-4o
                          (repeatable; beats environment variables and the config file)
  -f, --file PATH         attach a file to the first request: it is copied into the
                          session's working directory, where the code finds it by name
                          (repeatable; in the interactive UI, /load does the same)
  --demo                  replay the sample project's recorded conversation: no model needed
  --plain                 print a plain transcript even on a terminal
  -y, --yes               approve every code execution that asks for approval
                          (code_interpreter.require_confirmation): needed to run
                          the plain transcript with confirmation on, which
                          cannot ask
  -v, --version           print the version
  -h, --help              print this help

A model is configured with llm.model, llm.api_key and (for servers other than OpenAI)
llm.api_base, in taskweaver_config.json or as LLM_MODEL, LLM_API_KEY, LLM_API_BASE.

taskweaver mcp serves the app as an MCP server over stdio (tools run_task and
execute_python, session files as resources), for Claude Desktop, VS Code or any
MCP client.

In the interactive UI, type /help for commands (/load, /reset, /info, /exit, ...).
`;

/** Parses `process.argv.slice(2)`. Unknown options and arguments give `invalid`. */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  if (argv[0] === "eval") return { command: "eval", argv: argv.slice(1) };
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        project: { type: "string", short: "p" },
        config: { type: "string", multiple: true },
        file: { type: "string", short: "f", multiple: true },
        demo: { type: "boolean", default: false },
        plain: { type: "boolean", default: false },
        yes: { type: "boolean", short: "y", default: false },
        version: { type: "boolean", short: "v", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    // node:util's messages are precise ("Unknown option '--foo'"); add the way out.
    return {
      command: "invalid",
      message: `${(error as Error).message}. Run taskweaver --help for the options.`,
    };
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: "help" };
  if (values.version) return { command: "version" };
  const [subcommand, ...rest] = positionals;
  if (subcommand !== undefined && subcommand !== "chat" && subcommand !== "mcp") {
    return {
      command: "invalid",
      message: `Unknown command "${subcommand}". The commands are "chat" (the default), "eval" and "mcp".`,
    };
  }
  if (rest.length > 0) {
    return {
      command: "invalid",
      message: `Unexpected argument "${rest[0]}". Run taskweaver --help for the options.`,
    };
  }
  if (values.project !== undefined && values.project.trim() === "") {
    return { command: "invalid", message: "-p/--project needs a directory." };
  }
  if (subcommand === "mcp") return { command: "mcp", projectDir: values.project, configAssignments: values.config ?? [] };
  return {
    command: "chat",
    projectDir: values.project,
    configAssignments: values.config ?? [],
    files: values.file ?? [],
    demo: values.demo,
    plain: values.plain,
    yes: values.yes,
  };
}
