import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The exit status of a process that has ended but was not reaped yet, else `undefined`. */
function zombieExitStatus(pid: number): number | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // Fields after the command name (in parentheses, which may hold spaces): state is the first,
  // the wait status (exit_code) the last.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).trim().split(" ");
  if (fields[0] !== "Z") return undefined;
  const waitStatus = Number(fields.at(-1));
  if (!Number.isFinite(waitStatus)) return undefined;
  const signal = waitStatus & 0x7f;
  return signal === 0 ? (waitStatus >> 8) & 0xff : 128 + signal;
}

/** Options of {@link startTerminal}. */
export interface TerminalOptions {
  /** The program and its arguments. */
  command: string[];
  cwd: string;
  /** The whole environment of the program (nothing else is inherited). */
  env: Record<string, string | undefined>;
  /** @default 100 */
  columns?: number;
  /** @default 40 */
  rows?: number;
}

/** A program running in a real pseudo-terminal, driven like a user at the keyboard. */
export interface Terminal {
  /** Types text literally (no key names). */
  type(text: string): Promise<void>;
  /** Presses keys by tmux name: `Enter`, `C-c`, `Up`, `BSpace`, ... */
  press(...keys: string[]): Promise<void>;
  /** Sends raw bytes, e.g. a bracketed paste. */
  sendRaw(bytes: string): Promise<void>;
  /** What a user would see now, scrollback included, as plain text (like `tmux capture-pane`). */
  screen(): Promise<string>;
  /** Waits until the screen matches, else throws with the screen in the message. */
  waitFor(pattern: string | RegExp, timeoutMs?: number, from?: number): Promise<string>;
  /** The exit status once the program ended, else `undefined`. */
  exitStatus(): Promise<number | undefined>;
  /** Waits for the program to end. */
  waitForExit(timeoutMs?: number): Promise<number>;
  /** Ends the terminal and its program. */
  close(): Promise<void>;
}

/**
 * Starts a program in a pseudo-terminal owned by a private tmux server (its own socket, so
 * tests never touch a user's tmux). tmux gives what the TUI tests need: a real TTY for stdin
 * and stdout, key presses, and the rendered screen exactly as a user sees it.
 */
export async function startTerminal(options: TerminalOptions): Promise<Terminal> {
  const directory = mkdtempSync(join(tmpdir(), "tw-pty-"));
  const socket = join(directory, "tmux.sock");
  const target = "main";
  const tmux = (...args: string[]) =>
    run("tmux", ["-S", socket, ...args], { env: { ...process.env, TMUX: "" }, maxBuffer: 16 * 1024 * 1024 });
  const environment = Object.entries(options.env).filter(
    (entry): entry is [string, string] => entry[1] !== undefined,
  );
  await tmux(
    "-f",
    "/dev/null",
    "new-session",
    "-d",
    "-s",
    target,
    "-x",
    String(options.columns ?? 100),
    "-y",
    String(options.rows ?? 40),
    "-c",
    options.cwd,
    ...environment.flatMap(([key, value]) => ["-e", `${key}=${value}`]),
    // `env -i` so the program sees exactly the given environment, not the tmux server's.
    "env",
    "-i",
    ...environment.map(([key, value]) => `${key}=${value}`),
    ...options.command,
  );
  // Keep the pane after the program ends, to read its last screen and exit status.
  await tmux("set-option", "-t", target, "remain-on-exit", "on");
  await tmux("set-option", "-t", target, "history-limit", "20000");

  const terminal: Terminal = {
    async type(text) {
      await tmux("send-keys", "-t", target, "-l", text);
    },
    async press(...keys) {
      await tmux("send-keys", "-t", target, ...keys);
    },
    async sendRaw(bytes) {
      const hex = [...Buffer.from(bytes, "utf8")].map((byte) => byte.toString(16).padStart(2, "0"));
      await tmux("send-keys", "-t", target, "-H", ...hex);
    },
    async screen() {
      const { stdout } = await tmux("capture-pane", "-p", "-J", "-t", target, "-S", "-", "-E", "-");
      return stdout.replace(/\s+$/, "");
    },
    async waitFor(pattern, timeoutMs = 60_000, from = 0) {
      const deadline = Date.now() + timeoutMs;
      let screen = "";
      for (;;) {
        screen = await terminal.screen();
        const tail = screen.slice(from);
        if (typeof pattern === "string" ? tail.includes(pattern) : pattern.test(tail)) return screen;
        if (Date.now() > deadline) {
          throw new Error(
            `The terminal did not show ${String(pattern)} within ${timeoutMs} ms. Screen:\n${screen}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
    async exitStatus() {
      const { stdout } = await tmux(
        "display-message",
        "-p",
        "-t",
        target,
        "#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}|#{pane_pid}",
      );
      const [dead, status, signal, pid] = stdout.trim().split("|");
      // The status is there once the program was reaped, even while a process it started
      // still holds the terminal open (the pane is then not "dead" yet).
      if (status) return Number(status);
      // Killed by a signal: report it the way a shell does.
      if (dead === "1" && signal) return 128 + Number(signal);
      // tmux sometimes reaps late (seen under vitest's worker processes): the program has
      // ended when it is a zombie, and Linux keeps its wait status in /proc/<pid>/stat.
      return zombieExitStatus(Number(pid));
    },
    async waitForExit(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const status = await terminal.exitStatus();
        if (status !== undefined) return status;
        if (Date.now() > deadline) {
          throw new Error(
            `The program did not exit within ${timeoutMs} ms. Screen:\n${await terminal.screen()}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
    async close() {
      await tmux("kill-server").catch(() => undefined);
      rmSync(directory, { recursive: true, force: true });
    },
  };
  return terminal;
}
