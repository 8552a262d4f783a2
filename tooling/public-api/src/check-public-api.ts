import { readFileSync } from "node:fs";

/**
 * What an entry file exports compared with what its `@publicApi` doc comment lists.
 * A package's test asserts that `unlisted`, `listedButNotExported` and `starExports` are empty,
 * so a new export cannot slip in without a line in the comment that a reviewer reads.
 */
export interface PublicApiReport {
  /** Every exported name (values and types), in file order, each once. */
  exported: string[];
  /** Every name listed after `@publicApi`, in comment order, each once. */
  listed: string[];
  /** Exported but missing from the comment. */
  unlisted: string[];
  /** In the comment but not exported (removed, renamed or misspelt). */
  listedButNotExported: string[];
  /** Module specifiers of `export * from "..."`, which hide what they export. */
  starExports: string[];
}

/** Reads an entry file (e.g. `src/index.ts`) and checks its exports against its `@publicApi` list. */
export function checkPublicApi(indexFilePath: string): PublicApiReport {
  return checkPublicApiSource(readFileSync(indexFilePath, "utf8"));
}

/**
 * Checks the text of an entry file. The list is the doc comment holding a `@publicApi` line,
 * followed by lines ` * Group label: nameA, nameB`; a line without a label continues the group
 * above. The list ends at an empty comment line, another `@tag` or the end of the comment.
 *
 * Exports are read as text, not type-checked: `export { … } from`, `export type { … }`,
 * `export { … }`, `export * from` and `export * as name from`, and declarations
 * (`export class`, `function`, `const`, `let`, `var`, `interface`, `type`, `enum`,
 * `namespace`, `default`).
 */
export function checkPublicApiSource(source: string): PublicApiReport {
  const { code, comments, strings } = splitSource(source);
  const { exported, starExports } = findExports(code, strings);
  const listed = findListed(comments);
  const listedSet = new Set(listed);
  const exportedSet = new Set(exported);
  return {
    exported,
    listed,
    unlisted: exported.filter((name) => !listedSet.has(name)),
    listedButNotExported: listed.filter((name) => !exportedSet.has(name)),
    starExports,
  };
}

const IDENTIFIER = "[A-Za-z_$][\\w$]*";

function findExports(code: string, strings: readonly string[]): { exported: string[]; starExports: string[] } {
  const names = new Set<string>();
  const starExports: string[] = [];

  for (const match of code.matchAll(/\bexport\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const item of match[1]!.split(",")) {
      const parts = item.trim().replace(/^type\s+/, "").split(/\s+as\s+/);
      const name = (parts[1] ?? parts[0])!.trim();
      if (name !== "") names.add(name);
    }
  }
  for (const match of code.matchAll(new RegExp(`\\bexport\\s+(?:type\\s+)?\\*\\s*(?:as\\s+(${IDENTIFIER})\\s+)?from\\s*"(\\d+)"`, "g"))) {
    if (match[1]) names.add(match[1]);
    else starExports.push(strings[Number(match[2])]!);
  }
  const declaration = new RegExp(
    `\\bexport\\s+(?:declare\\s+)?(?:abstract\\s+)?(?:async\\s+)?` +
      `(class|function\\s*\\*?|const\\s+enum|const|let|var|interface|type|enum|namespace)\\s*(${IDENTIFIER})`,
    "g",
  );
  for (const match of code.matchAll(declaration)) names.add(match[2]!);
  if (/\bexport\s+default\b/.test(code)) names.add("default");

  return { exported: [...names], starExports };
}

function findListed(comments: readonly string[]): string[] {
  const comment = comments.find((text) => /^\s*\*?\s*@publicApi\b/m.test(text));
  if (comment === undefined) return [];
  const body = comment.replace(/^\/\*\*?/, "").replace(/\*\/$/, "");
  const lines = body.split("\n").map((line) => line.replace(/^\s*\*?/, ""));
  const start = lines.findIndex((line) => /^\s*@publicApi\b/.test(line));
  const names = new Set<string>();
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === "" || /^\s*@\w/.test(line)) break;
    const labelled = /^\s*[^:,]+:(.*)$/.exec(line);
    for (const name of (labelled ? labelled[1]! : line).split(",")) {
      if (name.trim() !== "") names.add(name.trim());
    }
  }
  return [...names];
}

/**
 * The source with comments removed and each string literal replaced by `"<index>"`, so text in
 * comments and strings never reads as an export; the block comments and the strings' contents.
 */
function splitSource(source: string): { code: string; comments: string[]; strings: string[] } {
  let code = "";
  const comments: string[] = [];
  const strings: string[] = [];
  let index = 0;
  while (index < source.length) {
    const char = source[index]!;
    const next = source[index + 1];
    if (char === "/" && next === "/") {
      const end = source.indexOf("\n", index);
      index = end === -1 ? source.length : end;
    } else if (char === "/" && next === "*") {
      const end = source.indexOf("*/", index + 2);
      const stop = end === -1 ? source.length : end + 2;
      comments.push(source.slice(index, stop));
      code += " ";
      index = stop;
    } else if (char === '"' || char === "'" || char === "`") {
      let end = index + 1;
      while (end < source.length && source[end] !== char) end += source[end] === "\\" ? 2 : 1;
      code += `"${strings.length}"`;
      strings.push(source.slice(index + 1, end));
      index = end + 1;
    } else {
      code += char;
      index += 1;
    }
  }
  return { code, comments, strings };
}
