// A small Python highlighter: one pass of a regular expression over the text, good enough for
// code that is still streaming (an unclosed string runs to the end instead of failing).

/** A piece of the code and what it is. */
export interface Token {
  kind: "plain" | "comment" | "string" | "number" | "keyword" | "builtin" | "decorator" | "definition";
  text: string;
}

const KEYWORDS = new Set(
  (
    "False None True and as assert async await break class continue def del elif else except finally for " +
    "from global if import in is lambda nonlocal not or pass raise return try while with yield match case"
  ).split(" "),
);

const BUILTINS = new Set(
  (
    "print len range open int float str list dict set tuple bool type isinstance enumerate zip map filter " +
    "sorted sum min max abs round any all input super object Exception ValueError TypeError KeyError self"
  ).split(" "),
);

// Order matters: comments and strings first, so that their insides are not read as code.
const TOKEN_PATTERN = new RegExp(
  [
    /(?<comment>#[^\n]*)/.source,
    /(?<string>[rRbBuUfF]{0,2}(?:"""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$)|"(?:\\.|[^"\\\n])*(?:"|$|(?=\n))|'(?:\\.|[^'\\\n])*(?:'|$|(?=\n))))/
      .source,
    /(?<decorator>@[A-Za-z_][\w.]*)/.source,
    /(?<number>\b(?:0[xXoObB][\da-fA-F_]+|\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?j?)\b)/.source,
    /(?<word>[A-Za-z_]\w*)/.source,
  ].join("|"),
  "g",
);

/** Splits Python code into tokens; joining their texts gives the code back. */
export function highlightPython(code: string): Token[] {
  const tokens: Token[] = [];
  let last = 0;
  let previousWord = "";
  const plain = (text: string) => {
    if (text === "") return;
    const previous = tokens.at(-1);
    if (previous?.kind === "plain") previous.text += text;
    else tokens.push({ kind: "plain", text });
  };
  for (const match of code.matchAll(TOKEN_PATTERN)) {
    const index = match.index;
    plain(code.slice(last, index));
    last = index + match[0].length;
    const groups = match.groups ?? {};
    if (groups.word !== undefined) {
      const word = groups.word;
      const kind: Token["kind"] = KEYWORDS.has(word)
        ? "keyword"
        : previousWord === "def" || previousWord === "class"
          ? "definition"
          : BUILTINS.has(word)
            ? "builtin"
            : "plain";
      previousWord = word;
      if (kind === "plain") plain(word);
      else tokens.push({ kind, text: word });
      continue;
    }
    previousWord = "";
    const kind: Token["kind"] =
      groups.comment !== undefined
        ? "comment"
        : groups.string !== undefined
          ? "string"
          : groups.decorator !== undefined
            ? "decorator"
            : "number";
    tokens.push({ kind, text: match[0] });
  }
  plain(code.slice(last));
  return tokens;
}
