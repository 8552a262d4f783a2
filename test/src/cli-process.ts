import { spawn } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "./app-dir.js";

export interface CliRun {
  stdout: string;
  stderr: string;
  exitCode: number | null;
}

/** Environment without the developer's own model settings, so tests never reach a real model. */
export function cleanEnvironment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(LLM_|OPENAI_|AZURE_|SESSION_|CODE_INTERPRETER_|EXECUTION_SERVICE_|PLANNER_)/.test(key)) continue;
    env[key] = value;
  }
  return { ...env, NO_COLOR: "1", ...extra };
}

/** Options of {@link runCommand}. */
export interface RunCommandOptions {
  /** Lines written to standard input, which is then closed. @default none */
  input?: string[];
  /** Added to {@link cleanEnvironment}. */
  env?: Record<string, string>;
  /** @default the repository root */
  cwd?: string;
  /** The process is killed and the promise rejected past it. @default 60000 */
  timeoutMs?: number;
}

/** Runs a program to its end with piped standard streams and collects its output. */
export function runCommand(command: string, args: string[], options: RunCommandOptions = {}): Promise<CliRun> {
  const child = spawn(command, args, {
    cwd: options.cwd ?? REPO_ROOT,
    env: cleanEnvironment(options.env),
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  child.stdin.end(options.input && options.input.length > 0 ? `${options.input.join("\n")}\n` : "");
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} did not finish within ${timeoutMs} ms.\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (exitCode) => {
      clearTimeout(timer);
      resolvePromise({ stdout, stderr, exitCode });
    });
  });
}

/**
 * Runs the real `taskweaver` command (through tsx, as `pnpm taskweaver` does) with the given
 * lines on standard input, which is not a terminal: the transcript mode.
 */
export function runCli(
  args: string[],
  options: { input?: string[]; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliRun> {
  return runCommand(join(REPO_ROOT, "node_modules/.bin/tsx"), [join(REPO_ROOT, "apps/cli/src/cli.tsx"), ...args], options);
}
