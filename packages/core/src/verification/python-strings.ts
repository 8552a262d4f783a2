import type { SyntaxNode } from "./python-syntax.js";

const SIMPLE_ESCAPES: Record<string, string> = {
  "\\": "\\",
  "'": "'",
  '"': '"',
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "\n": "",
};

/**
 * Python's escapes, so that `"\x5f\x5fclass\x5f\x5f"` is seen as `__class__`. Of the named
 * escapes only the underscore matters here; other names decode to a placeholder.
 */
function decodeEscapes(raw: string): string {
  return raw.replace(
    /\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|N\{[^}]*\}|[0-7]{1,3}|[\s\S])/g,
    (whole, escape: string) => {
      const kind = escape[0]!;
      if (kind === "x" || kind === "u" || kind === "U") {
        const codePoint = Number.parseInt(escape.slice(1), 16);
        return codePoint <= 0x10ffff ? String.fromCodePoint(codePoint) : whole;
      }
      if (kind === "N" && escape.length > 1) return /^N\{LOW LINE\}$/i.test(escape) ? "_" : "\ufffd";
      if (/^[0-7]+$/.test(escape)) return String.fromCodePoint(Number.parseInt(escape, 8));
      return SIMPLE_ESCAPES[escape] ?? whole;
    },
  );
}

/** The value of a string literal without interpolations, or `undefined` when it has none fixed. */
export function stringLiteralValue(node: SyntaxNode): string | undefined {
  if (node.type === "concatenated_string") {
    const parts = node.children.map(stringLiteralValue);
    return parts.every((part) => part !== undefined) ? parts.join("") : undefined;
  }
  if (node.type !== "string") return undefined;
  // An f-string with interpolations has no fixed value.
  if (node.children.some((child) => child.type === "interpolation")) return undefined;
  const prefix = node.children.find((child) => child.type === "string_start")?.text ?? "";
  const isRaw = /r/i.test(prefix);
  return node.children
    .filter((child) => child.type === "string_content")
    .map((child) => (isRaw ? child.text : decodeEscapes(child.text)))
    .join("");
}
