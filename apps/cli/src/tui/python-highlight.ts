/**
 * A small Python tokenizer for colouring code in the terminal. It only needs to look right,
 * not to be a parser: it is tolerant of code cut off mid-stream (an unterminated string simply
 * runs to the end) and never throws.
 */

export type PythonTokenKind =
  "keyword" | "builtin" | "string" | "number" | "comment" | "decorator" | "function" | "plain";

export interface PythonToken {
  kind: PythonTokenKind;
  text: string;
}

const KEYWORDS = new Set([
  "False",
  "None",
  "True",
  "and",
  "as",
  "assert",
  "async",
  "await",
  "break",
  "class",
  "continue",
  "def",
  "del",
  "elif",
  "else",
  "except",
  "finally",
  "for",
  "from",
  "global",
  "if",
  "import",
  "in",
  "is",
  "lambda",
  "nonlocal",
  "not",
  "or",
  "pass",
  "raise",
  "return",
  "try",
  "while",
  "with",
  "yield",
  "match",
  "case",
]);

const BUILTINS = new Set([
  "print",
  "len",
  "range",
  "open",
  "int",
  "float",
  "str",
  "list",
  "dict",
  "set",
  "tuple",
  "bool",
  "enumerate",
  "zip",
  "map",
  "filter",
  "sorted",
  "sum",
  "min",
  "max",
  "abs",
  "round",
  "isinstance",
  "type",
  "super",
  "self",
  "any",
  "all",
  "repr",
  "format",
  "input",
  "iter",
  "next",
  "reversed",
]);

/** Where a string literal starting at `start` (its opening quote, after any prefix) ends. */
function stringEnd(code: string, start: number): number {
  const quote = code[start]!;
  const triple = code.startsWith(quote.repeat(3), start);
  const closing = triple ? quote.repeat(3) : quote;
  let index = start + closing.length;
  while (index < code.length) {
    const char = code[index]!;
    if (char === "\\") {
      index += 2;
      continue;
    }
    if (!triple && char === "\n") return index;
    if (code.startsWith(closing, index)) return index + closing.length;
    index += 1;
  }
  return code.length;
}

/** Splits Python code into coloured tokens; joining their texts gives back the code exactly. */
export function tokenizePython(code: string): PythonToken[] {
  const tokens: PythonToken[] = [];
  const push = (kind: PythonTokenKind, text: string) => {
    const last = tokens.at(-1);
    if (last && last.kind === kind && kind === "plain") last.text += text;
    else tokens.push({ kind, text });
  };
  let index = 0;
  let previousWord = "";
  while (index < code.length) {
    const char = code[index]!;
    if (char === "#") {
      const end = code.indexOf("\n", index);
      const stop = end === -1 ? code.length : end;
      push("comment", code.slice(index, stop));
      index = stop;
      continue;
    }
    const prefix = /^[rRbBuUfF]{0,2}(?=['"])/.exec(code.slice(index, index + 3));
    if (char === '"' || char === "'" || (prefix && prefix[0].length > 0)) {
      const quoteAt = index + (prefix ? prefix[0].length : 0);
      const end = stringEnd(code, quoteAt);
      push("string", code.slice(index, end));
      index = end;
      previousWord = "";
      continue;
    }
    if (char === "@" && (index === 0 || code[index - 1] === "\n" || /\s/.test(code[index - 1]!))) {
      const match = /^@[\w.]+/.exec(code.slice(index));
      if (match) {
        push("decorator", match[0]);
        index += match[0].length;
        continue;
      }
    }
    const number =
      /^(?:0[xXoObB][\da-fA-F_]+|\d[\d_]*\.?[\d_]*(?:[eE][+-]?\d+)?j?|\.\d[\d_]*(?:[eE][+-]?\d+)?j?)/.exec(
        code.slice(index),
      );
    if (number && (index === 0 || !/[\w]/.test(code[index - 1]!))) {
      push("number", number[0]);
      index += number[0].length;
      continue;
    }
    const word = /^[A-Za-z_]\w*/.exec(code.slice(index));
    if (word) {
      const text = word[0];
      if (previousWord === "def" || previousWord === "class") push("function", text);
      else if (KEYWORDS.has(text)) push("keyword", text);
      else if (BUILTINS.has(text)) push("builtin", text);
      else push("plain", text);
      previousWord = text;
      index += text.length;
      continue;
    }
    if (!/\s/.test(char)) previousWord = "";
    push("plain", char);
    index += 1;
  }
  return tokens;
}
