import { scanIPythonLines } from "./ipython-lines.js";
import type { VerificationProblem } from "./policy.js";
import { parsePython, type SyntaxNode } from "./python-syntax.js";

/** Block clauses that line up with the keyword of their statement. */
const CLAUSE_TYPES = new Set([
  "elif_clause",
  "else_clause",
  "except_clause",
  "except_group_clause",
  "finally_clause",
]);

interface Candidate {
  line: number;
  message: string;
}

/** Where a statement stands, for the statements CPython accepts only inside a function or loop. */
interface Context {
  inFunction: boolean;
  inLoop: boolean;
}

/**
 * Finds what CPython would reject in a tree tree-sitter accepted or recovered: ERROR and
 * missing nodes, Python 2 statements, bad indentation, `return`/`yield` outside a function,
 * `break`/`continue` outside a loop.
 */
class SyntaxChecker {
  /** Syntax errors found anywhere; only the earliest is reported, as CPython would. */
  private readonly candidates: Candidate[] = [];

  constructor(
    private readonly sourceLines: readonly string[],
    /** Lines that held a magic, now `pass` at the magic's indentation. */
    private readonly skipIndentationLines: ReadonlySet<number>,
  ) {}

  /**
   * The checks run block by block, so they do not meet errors in source order; the earliest
   * line wins, and on one line the first found.
   */
  earliest(): VerificationProblem | undefined {
    let earliest: Candidate | undefined;
    for (const candidate of this.candidates) {
      if (!earliest || candidate.line < earliest.line) earliest = candidate;
    }
    return earliest && { line: earliest.line, message: `line ${earliest.line}: ${earliest.message}` };
  }

  check(node: SyntaxNode, context: Context = { inFunction: false, inLoop: false }): void {
    if (this.checkNode(node, context)) return;
    if (node.isMissing) {
      const token = node.type === "identifier" ? "a name" : `"${node.type}"`;
      this.report(node, `invalid Python syntax, ${token} is missing`);
      return;
    }
    let inner = context;
    if (node.type === "function_definition" || node.type === "lambda")
      inner = { inFunction: true, inLoop: false };
    else if (node.type === "class_definition") inner = { inFunction: false, inLoop: false };
    for (const child of node.children) {
      // Only a loop's body is inside the loop: a `break` in its `else:` belongs to the outer one.
      const isLoopBody =
        (node.type === "for_statement" || node.type === "while_statement") && child.field === "body";
      this.check(child, isLoopBody ? { ...inner, inLoop: true } : inner);
    }
  }

  /** The check of one node by its type; true when it reported and its children need no look. */
  private checkNode(node: SyntaxNode, context: Context): boolean {
    switch (node.type) {
      case "ERROR":
        return this.report(node, "invalid Python syntax");
      case "print_statement":
        return this.report(node, "invalid Python 3 syntax, print is a function: use print(...)");
      case "exec_statement":
        return this.report(node, "invalid Python 3 syntax, exec is a function: use exec(...)");
      case "module":
      case "block":
        this.checkIndentation(node);
        return false;
      case "if_statement":
      case "for_statement":
      case "while_statement":
      case "try_statement":
        this.checkClauseAlignment(node);
        return false;
      case "return_statement":
      case "yield":
        if (context.inFunction) return false;
        return this.report(
          node,
          `invalid Python syntax, "${node.type === "yield" ? "yield" : "return"}" outside a function`,
        );
      case "break_statement":
      case "continue_statement":
        if (context.inLoop) return false;
        return this.report(
          node,
          `invalid Python syntax, "${node.type === "break_statement" ? "break" : "continue"}" outside a loop`,
        );
      default:
        return false;
    }
  }

  private report(node: SyntaxNode, detail: string): true {
    const source = (this.sourceLines[node.line - 1] ?? "").trim();
    const shown = source.length > 60 ? `${source.slice(0, 57)}...` : source;
    this.candidates.push({ line: node.line, message: `${detail}${shown ? `: ${shown}` : ""}` });
    return true;
  }

  /**
   * Statements of one block must share an indentation; tree-sitter accepts a stray indent or
   * an empty block, CPython does not.
   */
  private checkIndentation(node: SyntaxNode): void {
    const statements = node.children;
    if (node.type === "block" && statements.length === 0) {
      this.report(node, "invalid Python syntax, an indented block is expected after");
      return;
    }
    // The first statement sets the level, also at the top: IPython dedents an indented cell.
    let expected: number | undefined;
    for (const statement of statements) {
      if (this.skipIndentationLines.has(statement.line)) continue;
      const before = (this.sourceLines[statement.line - 1] ?? "").slice(0, statement.column).trimEnd();
      if (before !== "") {
        // Only `;` or a block header (`if x: pass`) may put a statement after code on its line;
        // tree-sitter also splits `import pandas aspd` into two statements.
        if (!before.endsWith(";") && !before.endsWith(":")) {
          this.report(statement, "invalid Python syntax, two statements on one line");
          return;
        }
        continue;
      }
      expected ??= statement.column;
      if (statement.column !== expected) {
        this.report(statement, "invalid Python syntax, unexpected indentation");
        return;
      }
    }
  }

  /** `else:`, `elif`, `except` and `finally` line up with their statement's keyword. */
  private checkClauseAlignment(node: SyntaxNode): void {
    for (const clause of node.children) {
      if (!CLAUSE_TYPES.has(clause.type)) continue;
      const before = (this.sourceLines[clause.line - 1] ?? "").slice(0, clause.column);
      if (before.trim() === "" && clause.column !== node.column) {
        this.report(clause, "invalid Python syntax, unexpected indentation");
        return;
      }
    }
  }
}

/** The first syntax error of a parsed module, in source order, or `undefined`. */
export function findSyntaxProblem(
  root: SyntaxNode,
  source: string,
  skipIndentationLines: ReadonlySet<number> = new Set(),
): VerificationProblem | undefined {
  const checker = new SyntaxChecker(source.split("\n"), skipIndentationLines);
  checker.check(root);
  return checker.earliest();
}

/** A notebook cell read as Python: IPython lines taken out, parsed, and its syntax checked. */
export interface ParsedCell {
  /** The tree of the Python part; IPython lines are `pass` statements in it. */
  root: SyntaxNode;
  /** One problem per IPython line that is not a package install, then the first syntax error. */
  problems: VerificationProblem[];
}

/** A byte order mark is not code; dropping it keeps every line number. */
function withoutByteOrderMark(code: string): string {
  return code.startsWith("\ufeff") ? code.slice(1) : code;
}

/** Reads a cell (IPython syntax included) as Python and finds its syntax problems. */
export async function parseCell(code: string): Promise<ParsedCell> {
  const scan = scanIPythonLines(withoutByteOrderMark(code));
  const root = await parsePython(scan.pythonCode);
  const syntaxError = findSyntaxProblem(root, scan.pythonCode, scan.replacedLines);
  return { root, problems: syntaxError ? [...scan.problems, syntaxError] : scan.problems };
}

/**
 * Only the syntax check of `verifyCode`, for Python that is trusted but must parse, such as a
 * plugin's module: the first syntax error, or `undefined`.
 */
export async function findPythonSyntaxError(code: string): Promise<VerificationProblem | undefined> {
  const source = withoutByteOrderMark(code);
  return findSyntaxProblem(await parsePython(source), source);
}
