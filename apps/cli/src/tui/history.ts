import { appendFileSync, chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

/** The default history file, shared by all projects like a shell's. */
export function defaultHistoryPath(home: string = homedir()): string {
  return join(home, ".taskweaver", "history");
}

/** How many entries the history keeps. @default 500 */
export const DEFAULT_HISTORY_LIMIT = 500;

/** Requests typed before, oldest first, persisted between runs. */
export interface InputHistory {
  readonly entries: readonly string[];
  /** Adds an entry (skipping a repeat of the last one) and saves it. Never throws. */
  add(entry: string): void;
}

/**
 * Loads the history file: one JSON string per line, so multi-line requests survive. A missing
 * or damaged file gives an empty (or partial) history rather than an error: history is a
 * convenience and must never stop the CLI from starting.
 */
export function loadHistory(path: string, limit = DEFAULT_HISTORY_LIMIT): InputHistory {
  let entries: string[] = [];
  try {
    entries = readFileSync(path, "utf8")
      .split("\n")
      .flatMap((line) => {
        if (line.trim() === "") return [];
        try {
          const value: unknown = JSON.parse(line);
          return typeof value === "string" ? [value] : [];
        } catch {
          return [];
        }
      });
  } catch {
    entries = [];
  }
  entries = entries.slice(-limit);
  let linesInFile = entries.length;

  return {
    get entries() {
      return entries;
    },
    add(entry) {
      if (entry.trim() === "" || entries.at(-1) === entry) return;
      entries = [...entries, entry].slice(-limit);
      try {
        mkdirSync(dirname(path), { recursive: true });
        // Appending is cheap; rewrite only when the file grows well past the bound.
        if (linesInFile + 1 > limit * 2) {
          writeFileSync(path, entries.map((item) => `${JSON.stringify(item)}\n`).join(""), { mode: 0o600 });
          linesInFile = entries.length;
        } else {
          appendFileSync(path, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
          linesInFile += 1;
        }
        chmodSync(path, 0o600);
      } catch {
        // A read-only home must not break the chat; the entry stays in memory.
      }
    },
  };
}
