import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ChatApp } from "./app-types.js";
import { HELP_TEXT, parseCommandLine } from "./args.js";

/** Exit code of a command line that could not be understood or an app that could not start. */
export const EXIT_USAGE = 2;

/** How the CLI creates the app; `cli.tsx` passes `createTaskWeaver` with the real executor. */
export type CreateApp = (options: {
  appDir: string | undefined;
  configOverrides: Record<string, unknown>;
  env: Record<string, string | undefined>;
}) => Promise<ChatApp>;

/** The recorded request of `--demo` and the files it attaches (`project/demo/demo.json`). */
export interface DemoScript {
  request: string;
  files: { name: string; path: string }[];
}

/** What the interactive UI needs; given by `cli.tsx` so this module stays free of Ink. */
export type StartInteractive = (options: {
  app: ChatApp;
  demo: boolean;
  demoScript?: DemoScript;
  /** The command hints tell the user to type (see `cliCommand`). */
  command: string;
  /** Files of `--file`, attached to the first request. */
  files: { name: string; path: string }[];
  /** `--yes`: run code that needs approval without asking. @default false */
  approveAll?: boolean;
  /** `$VISUAL` or `$EDITOR`, to edit code before it runs. @default the TUI's own editor */
  editor?: string;
}) => Promise<number>;

/** Everything `main` touches, as parameters (tests pass their own). */
export interface MainOptions {
  argv: readonly string[];
  env: Record<string, string | undefined>;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  createApp: CreateApp;
  /** Starts the TUI; when absent, the transcript is used even on a terminal. */
  startInteractive?: StartInteractive;
  /** Relative paths on the command line are resolved against it. @default process.cwd() */
  cwd?: string;
  /** Aborted on Ctrl-C (transcript mode). */
  signal?: AbortSignal;
}

/** The sample app directory shipped with the repository (used by `--demo`). */
export const DEMO_PROJECT_DIR = fileURLToPath(new URL("../../../project/", import.meta.url));

/** The recorded conversation `--demo` replays. */
export const DEMO_CACHE_PATH = fileURLToPath(new URL("../../../project/demo/mock.yaml", import.meta.url));

/** Shown in the transcript so a replay is never mistaken for a live model. */
export const DEMO_NOTICE =
  "[demo] This is a replay of a recorded conversation: no model is called, the code really runs.";

/**
 * Reads `<project>/demo/demo.json`: the request the recording answers and the files it needs.
 * The replay only knows that request, so the UI offers it ready to send.
 */
export function loadDemoScript(projectDir: string): DemoScript | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(join(projectDir, "demo", "demo.json"), "utf8"));
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const { request, files } = parsed as { request?: unknown; files?: unknown };
  if (typeof request !== "string") return undefined;
  const names = Array.isArray(files) ? files.filter((file): file is string => typeof file === "string") : [];
  return {
    request,
    files: names.map((file) => ({ name: basename(file), path: resolve(projectDir, file) })),
  };
}

/** The package version, read at run time so source and build agree. */
export function readVersion(): string {
  const text = readFileSync(new URL("../package.json", import.meta.url), "utf8");
  return (JSON.parse(text) as { version: string }).version;
}

/** The config overrides of `--demo`: the sample project, replaying its recorded model answers. */
export function demoOverrides(): Record<string, unknown> {
  return {
    "llm.use_mock": "true",
    "llm.mock.mode": "playback_only",
    "llm.mock.cache_path": DEMO_CACHE_PATH,
  };
}

/**
 * Runs the command line and resolves with the process exit code. The core and the renderers
 * are imported only once they are needed, so `--help` and `--version` answer at once.
 */
export async function main(options: MainOptions): Promise<number> {
  const commandLine = parseCommandLine(options.argv);
  switch (commandLine.command) {
    case "help":
      options.stdout.write(HELP_TEXT);
      return 0;
    case "version":
      options.stdout.write(`${readVersion()}\n`);
      return 0;
    case "invalid":
      options.stderr.write(`Error: ${commandLine.message}\n`);
      return EXIT_USAGE;
    case "eval": {
      const { runEvalCommand } = await import("./eval/eval-command.js");
      const { env, stdout, stderr, signal } = options;
      return runEvalCommand({ argv: commandLine.argv, env, stdout, stderr, signal, cwd: options.cwd ?? process.cwd() });
    }
    case "chat":
    case "mcp":
      break;
  }

  const [{ CONFIG_FILE_NAME, findAppDir, parseConfigAssignments }, { formatStartupError }, { cliCommand }] =
    await Promise.all([import("@taskweaver/core"), import("./startup-errors.js"), import("./command-name.js")]);
  const cwd = options.cwd ?? process.cwd();
  const command = cliCommand(options.env);
  const files = (commandLine.command === "chat" ? commandLine.files : []).map((file) => ({ name: basename(file), path: resolve(cwd, file) }));
  const missing = files.find((file) => !existsSync(file.path) || !statSync(file.path).isFile());
  if (missing) {
    options.stderr.write(`Error: --file ${missing.path} is not a file.\n`);
    return EXIT_USAGE;
  }
  const demo = commandLine.command === "chat" && commandLine.demo;
  let app: ChatApp;
  try {
    const overrides = parseConfigAssignments(commandLine.configAssignments);
    app = await options.createApp({
      appDir: demo ? (commandLine.projectDir ?? DEMO_PROJECT_DIR) : commandLine.projectDir,
      // Explicit --config values still win over the demo's, so a demo can be tweaked.
      configOverrides: demo ? { ...demoOverrides(), ...overrides } : overrides,
      env: options.env,
    });
  } catch (error) {
    // Name the file to edit: the one of -p DIR, or the one that would be found.
    const appDir =
      commandLine.projectDir !== undefined ? resolve(cwd, commandLine.projectDir) : findAppDir(cwd);
    options.stderr.write(
      formatStartupError(error, { configFile: appDir ? join(appDir, CONFIG_FILE_NAME) : undefined, command }),
    );
    return EXIT_USAGE;
  }

  // A broken plugin must not stop the others: say which file and field, then go on.
  try {
    for (const problem of (await app.plugins?.())?.problems ?? []) {
      options.stderr.write(`warning: plugin ${problem.file} was not loaded: ${problem.message}\n`);
    }
    for (const problem of (await app.exampleProblems?.()) ?? []) {
      options.stderr.write(`warning: ${problem.message} The example is left out.\n`);
    }
  } catch (error) {
    options.stderr.write(formatStartupError(error));
  }

  if (commandLine.command === "mcp") {
    const { runMcpServer } = await import("./commands/mcp-server.js");
    return runMcpServer({ app, stdin: options.stdin, stdout: options.stdout, stderr: options.stderr, signal: options.signal, version: readVersion() });
  }
  const demoScript = demo
    ? loadDemoScript(resolve(cwd, commandLine.projectDir ?? DEMO_PROJECT_DIR))
    : undefined;
  const interactive =
    options.startInteractive !== undefined &&
    !commandLine.plain &&
    options.stdin.isTTY === true &&
    options.stdout.isTTY === true;
  if (!interactive && !commandLine.yes && app.config.get("code_interpreter.require_confirmation")) {
    // The transcript reads requests from its input and has nobody to ask: refuse rather than
    // hang a pipeline or reject every execution.
    options.stderr.write(
      "Error: code_interpreter.require_confirmation is on, but the plain transcript (input not a terminal, or --plain) cannot ask before code runs.\n" +
        `Pass --yes to approve every execution, run ${command} in a terminal, or set --config code_interpreter.require_confirmation=false.\n`,
    );
    await app.close().catch(() => undefined);
    return EXIT_USAGE;
  }
  const editor = options.env.VISUAL?.trim() || options.env.EDITOR?.trim() || undefined;
  try {
    if (interactive && options.startInteractive)
      return await options.startInteractive({
        app,
        demo,
        demoScript,
        command,
        files,
        ...(commandLine.yes ? { approveAll: true } : {}),
        ...(editor ? { editor } : {}),
      });
    const { runTranscript } = await import("./transcript.js");
    return await runTranscript({
      app,
      input: options.stdin,
      output: options.stdout,
      warnings: options.stderr,
      notice: demo
        ? `${DEMO_NOTICE}${demoScript ? `\nThe recorded request: ${demoScript.request}` : ""}`
        : undefined,
      firstMessageFiles: [...(demoScript?.files ?? []), ...files],
      demo: demo ? { request: demoScript?.request, command } : undefined,
      signal: options.signal,
      approveAll: commandLine.yes,
    });
  } catch (error) {
    options.stderr.write(formatStartupError(error));
    await app.close().catch(() => undefined);
    return 1;
  }
}
