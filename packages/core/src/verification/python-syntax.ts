import { createRequire } from "node:module";
import { Language, Parser, type TreeCursor } from "web-tree-sitter";
import { TaskWeaverError } from "../errors.js";

/**
 * A plain copy of one tree-sitter node. The checks work on these instead of the WebAssembly
 * nodes so that the tree's memory can be freed at once and the checks stay ordinary JS.
 */
export interface SyntaxNode {
  /** Grammar node type, e.g. `call`, `identifier`, `ERROR`. */
  type: string;
  /** The field this node fills in its parent (`function`, `left`, ...), if any. */
  field: string | null;
  /** 1-based line of the node's first character. */
  line: number;
  /** 0-based column of the node's first character, in UTF-16 code units like JS strings. */
  column: number;
  /** Source text; kept only for identifiers and string parts, the nodes the checks read. */
  text: string;
  /** True for a token the parser inserted to recover from an error. */
  isMissing: boolean;
  /** Named children in source order (anonymous tokens such as `(` are dropped). */
  children: SyntaxNode[];
}

/** Node types whose text the checks read; others keep an empty text, since copying text costs. */
const TEXT_NODE_TYPES = new Set(["identifier", "string_start", "string_content"]);

/**
 * One parser per process: loading the WebAssembly grammar costs tens of milliseconds, a parse
 * of a cell well under one. Parsing is synchronous, so sharing one parser between concurrent
 * `verifyCode` calls is safe in single-threaded JS.
 */
let parserPromise: Promise<Parser> | undefined;

async function createPythonParser(): Promise<Parser> {
  const require = createRequire(import.meta.url);
  // Resolved from this module so a hoisted or nested node_modules layout both work.
  const runtimeWasm = require.resolve("web-tree-sitter/tree-sitter.wasm");
  const grammarWasm = require.resolve("tree-sitter-python/tree-sitter-python.wasm");
  await Parser.init({ locateFile: () => runtimeWasm });
  const language = await Language.load(grammarWasm);
  const parser = new Parser();
  parser.setLanguage(language);
  return parser;
}

/** The shared Python parser, created on first use. A failed load is retried on the next call. */
export function getPythonParser(): Promise<Parser> {
  parserPromise ??= createPythonParser().catch((error: unknown) => {
    parserPromise = undefined;
    throw new TaskWeaverError(
      "python_parser_unavailable",
      `The Python grammar for code verification could not be loaded: ${(error as Error).message ?? String(error)}`,
      { cause: error },
    );
  });
  return parserPromise;
}

/**
 * Copies the tree in one cursor walk. Every cursor property is a call into WebAssembly, so the
 * walk reads as few as it can: field ids map through the language's table, and lines come from
 * the start offset (JS string indices in web-tree-sitter) instead of a Point per node.
 */
function copyTree(
  cursor: TreeCursor,
  fieldNames: readonly (string | null)[],
  code: string,
  hasError: boolean,
): SyntaxNode {
  const lineStarts = [0];
  for (let index = code.indexOf("\n"); index !== -1; index = code.indexOf("\n", index + 1))
    lineStarts.push(index + 1);
  const lineOf = (offset: number): number => {
    let low = 0;
    let high = lineStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (lineStarts[middle]! <= offset) low = middle;
      else high = middle - 1;
    }
    return low + 1;
  };
  const copy = (type: string): SyntaxNode => {
    const start = cursor.startIndex;
    const fieldId = cursor.currentFieldId;
    const line = lineOf(start);
    const node: SyntaxNode = {
      type,
      field: fieldId > 0 ? (fieldNames[fieldId] ?? null) : null,
      line,
      column: start - lineStarts[line - 1]!,
      text: TEXT_NODE_TYPES.has(type) ? code.slice(start, cursor.endIndex) : "",
      // Missing nodes exist only in trees with errors: one check spares a call per node.
      isMissing: hasError && cursor.nodeIsMissing,
      children: [],
    };
    if (cursor.gotoFirstChild()) {
      do {
        if (cursor.nodeIsNamed) {
          const childType = cursor.nodeType;
          if (childType !== "comment") node.children.push(copy(childType));
        } else if (hasError && cursor.nodeIsMissing) {
          node.children.push(copy(cursor.nodeType));
        }
      } while (cursor.gotoNextSibling());
      cursor.gotoParent();
    }
    return node;
  };
  return copy(cursor.nodeType);
}

/** Parses Python source into a plain syntax tree; errors show up as `ERROR` or missing nodes. */
export async function parsePython(code: string): Promise<SyntaxNode> {
  const parser = await getPythonParser();
  const tree = parser.parse(code);
  if (!tree) throw new TaskWeaverError("python_parse_failed", "The Python parser returned no tree.");
  const cursor = tree.walk();
  try {
    return copyTree(cursor, parser.language?.fields ?? [], code, tree.rootNode.hasError);
  } finally {
    // Trees live in WebAssembly memory, which the JS garbage collector does not reclaim.
    cursor.delete();
    tree.delete();
  }
}
