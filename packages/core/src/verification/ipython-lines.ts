import type { VerificationProblem } from "./policy.js";

/** The result of taking IPython-only lines out of a cell before it is parsed as Python. */
export interface IPythonScan {
  /** The code with every magic or shell line replaced, line count unchanged. */
  pythonCode: string;
  /** One problem per magic or shell line that is not a package install. */
  problems: VerificationProblem[];
  /** 1-based lines replaced by `pass`, whose indentation is the magic's and may not fit the block. */
  replacedLines: Set<number>;
}

/** Package installs are the one IPython syntax the generated code may use. */
const PACKAGE_INSTALL_MAGIC = /^%\s*(pip|conda|mamba)\s+install(\s|$)/;
const PACKAGE_INSTALL_SHELL = /^!\s*(pip3?|python3?\s+-m\s+pip|conda|mamba)\s+install(\s|$)/;
/**
 * IPython expands `$name` and `{expression}` in magic and shell lines before running them,
 * even inside quotes, so these would run arbitrary Python or shell through an "install".
 */
const EXPANSION_CHARACTERS = /[$`{}]/;
/** Shell operators count only outside quotes: `pip install "pandas>=2"` is a plain install. */
const SHELL_OPERATORS = /[;&|<>\\\r]/;
/** `files = !ls` and `out = %sx ls` capture a magic's output in a variable. */
const CAPTURED_MAGIC = /^[A-Za-z_][\w.]*(\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*[!%]/;

function stripQuoted(text: string): string {
  return text.replace(/"[^"]*"|'[^']*'/g, '""');
}

function shorten(text: string, limit = 60): string {
  const single = text.trim();
  return single.length > limit ? `${single.slice(0, limit - 3)}...` : single;
}

const ALLOWED_HINT = "only package installs (%pip install ..., !pip install ...) may use IPython syntax";

function checkMagicLine(body: string, line: number): VerificationProblem | undefined {
  const isInstall = PACKAGE_INSTALL_MAGIC.test(body) || PACKAGE_INSTALL_SHELL.test(body);
  if (isInstall) {
    if (EXPANSION_CHARACTERS.test(body) || SHELL_OPERATORS.test(stripQuoted(body))) {
      return {
        line,
        message:
          `line ${line}: the package install "${shorten(body)}" contains shell operators or IPython ` +
          `expansions ($, {}, ;, &&, |, >, backquotes); list only package names and pip options`,
      };
    }
    return undefined;
  }
  const kind = body.startsWith("!") ? "shell command" : "IPython magic";
  return { line, message: `line ${line}: ${kind} "${shorten(body)}" is not allowed; ${ALLOWED_HINT}` };
}

/**
 * Lexer state carried from one line to the next, just enough to tell whether a line starts a
 * new statement: `%` after an open bracket is a modulo, and inside a string it is text.
 */
interface LineState {
  /** The closing quote of the string the line starts in, if any. */
  openQuote: string | undefined;
  bracketDepth: number;
  /** The previous line ended with a backslash continuation. */
  continued: boolean;
}

function advance(state: LineState, text: string): void {
  let index = 0;
  const end = text.trimEnd().length;
  state.continued = false;
  while (index < text.length) {
    const character = text[index]!;
    if (state.openQuote) {
      if (character === "\\") {
        index += 2;
        continue;
      }
      if (text.startsWith(state.openQuote, index)) {
        index += state.openQuote.length;
        state.openQuote = undefined;
        continue;
      }
      index += 1;
      continue;
    }
    if (character === "#") return;
    if (character === '"' || character === "'") {
      const triple = character.repeat(3);
      state.openQuote = text.startsWith(triple, index) ? triple : character;
      index += state.openQuote.length;
      continue;
    }
    if (character === "\\" && index === end - 1) {
      state.continued = true;
      return;
    }
    if ("([{".includes(character)) state.bracketDepth += 1;
    else if (")]}".includes(character)) state.bracketDepth = Math.max(0, state.bracketDepth - 1);
    index += 1;
  }
  // A one-quote string cannot span lines without a backslash; the parser reports that error.
  if (state.openQuote && state.openQuote.length === 1 && !text.endsWith("\\")) state.openQuote = undefined;
}

/**
 * Finds IPython magics (`%run`, `%%bash`) and shell escapes (`!ls`) at statement starts,
 * reports all but package installs, and blanks them so tree-sitter (which knows only Python)
 * can parse the rest. A line magic becomes `pass` at the same indentation, so a magic inside a
 * block keeps the block valid; a cell magic turns the rest of the cell into blank lines,
 * because its body is not Python.
 */
export function scanIPythonLines(code: string): IPythonScan {
  const lines = code.split("\n");
  const problems: VerificationProblem[] = [];
  const replacedLines = new Set<number>();
  const state: LineState = { openQuote: undefined, bracketDepth: 0, continued: false };
  for (let index = 0; index < lines.length; index += 1) {
    const text = lines[index]!;
    const line = index + 1;
    const startsStatement = state.openQuote === undefined && state.bracketDepth === 0 && !state.continued;
    const trimmed = text.trimStart();
    if (startsStatement && trimmed.startsWith("%%")) {
      problems.push({
        line,
        message: `line ${line}: cell magic "${shorten(trimmed)}" is not allowed; ${ALLOWED_HINT}`,
      });
      for (let rest = index; rest < lines.length; rest += 1) lines[rest] = "";
      break;
    }
    if (startsStatement && (trimmed.startsWith("%") || trimmed.startsWith("!"))) {
      const problem = checkMagicLine(trimmed.replace(/\r$/, ""), line);
      if (problem) problems.push(problem);
      lines[index] = `${text.slice(0, text.length - trimmed.length)}pass`;
      replacedLines.add(line);
      continue;
    }
    if (startsStatement && CAPTURED_MAGIC.test(trimmed)) {
      problems.push({
        line,
        message: `line ${line}: capturing the output of "${shorten(trimmed.replace(/^[^=]*=\s*/, ""))}" is not allowed; ${ALLOWED_HINT}`,
      });
      lines[index] = `${text.slice(0, text.length - trimmed.length)}pass`;
      replacedLines.add(line);
      continue;
    }
    advance(state, text);
  }
  return { pythonCode: lines.join("\n"), problems, replacedLines };
}
