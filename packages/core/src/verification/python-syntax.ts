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
  /** Source text; kept only for leaves and the few node types the checks read. */
  text: string;
  /** True for a token the parser inserted to recover from an error. */
  isMissing: boolean;
  /** Named children in source order (anonymous tokens such as `(` are dropped). */
  children: SyntaxNode[];
}

/** Node types whose text the checks read; other inner nodes keep an empty text to save copying. */
const TEXT_NODE_TYPES = new Set(["identifier", "string", "string_content", "dotted_name", "import_prefix"]);

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

function copyCurrent(cursor: TreeCursor): SyntaxNode {
  const type = cursor.nodeType;
  const node: SyntaxNode = {
    type,
    field: cursor.currentFieldName,
    line: cursor.startPosition.row + 1,
    text: "",
    isMissing: cursor.nodeIsMissing,
    children: [],
  };
  let isLeaf = true;
  if (cursor.gotoFirstChild()) {
    isLeaf = false;
    do {
      if (cursor.nodeIsNamed || cursor.nodeIsMissing) node.children.push(copyCurrent(cursor));
    } while (cursor.gotoNextSibling());
    cursor.gotoParent();
  }
  if (isLeaf || TEXT_NODE_TYPES.has(type)) node.text = cursor.nodeText;
  return node;
}

/** Parses Python source into a plain syntax tree; errors show up as `ERROR` or missing nodes. */
export async function parsePython(code: string): Promise<SyntaxNode> {
  const parser = await getPythonParser();
  const tree = parser.parse(code);
  if (!tree) throw new TaskWeaverError("python_parse_failed", "The Python parser returned no tree.");
  const cursor = tree.walk();
  try {
    return copyCurrent(cursor);
  } finally {
    // Trees live in WebAssembly memory, which the JS garbage collector does not reclaim.
    cursor.delete();
    tree.delete();
  }
}
