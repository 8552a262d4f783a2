import { scanIPythonLines } from "./ipython-lines.js";
import {
  resolvePolicy,
  type ResolvedPolicy,
  type VerificationPolicy,
  type VerificationProblem,
} from "./policy.js";
import { getPythonParser, parsePython, type SyntaxNode } from "./python-syntax.js";

/**
 * Built-ins that reach around every static check (attribute access by string, dynamic code,
 * the namespace dictionaries). They are flagged whatever the policy says, because a policy
 * that allowed them could not be enforced.
 */
const ALWAYS_BLOCKED_NAMES = new Set([
  "getattr",
  "setattr",
  "delattr",
  "vars",
  "globals",
  "locals",
  "eval",
  "exec",
  "compile",
  "__import__",
  "get_ipython",
  "attrgetter",
  "methodcaller",
]);

/**
 * The subset of those that are also flagged as attribute names (`builtins.getattr`,
 * `operator.attrgetter`). `eval`/`compile` are left out here: `df.eval(...)` and
 * `re.compile(...)` are ordinary library calls.
 */
const ALWAYS_BLOCKED_ATTRIBUTES = new Set([
  "getattr",
  "setattr",
  "delattr",
  "vars",
  "globals",
  "locals",
  "get_ipython",
  "attrgetter",
  "methodcaller",
]);

/** Modules whose whole purpose is reaching built-ins or importing by string. */
const ALWAYS_BLOCKED_MODULES = new Set(["builtins", "__builtin__", "importlib", "imp"]);

/**
 * System modules that allowed libraries re-export (`pd.io.common.os`) or that an earlier cell
 * may have imported: used by name without an import, they are checked like an import.
 */
const SYSTEM_MODULE_NAMES = new Set([
  ...ALWAYS_BLOCKED_MODULES,
  "os",
  "sys",
  "subprocess",
  "shutil",
  "socket",
  "ctypes",
  "pty",
  "posix",
  "nt",
  "multiprocessing",
]);

/** A `str.format` field such as `{0.__class__}` reads attributes by name. */
const FORMAT_FIELD_WITH_DUNDER = /\{[^{}]*__\w+__[^{}]*\}/;

/** Dunder names harmless to read: module names and versions (`np.__version__`), `super().__init__()`. */
const SAFE_DUNDER_NAMES = new Set(["__name__"]);
const SAFE_DUNDER_ATTRIBUTES = new Set(["__init__", "__name__", "__qualname__", "__doc__", "__version__"]);

const DUNDER = /^__\w+__$/;
const LIST_PREVIEW_LIMIT = 12;

function preview(names: ReadonlySet<string>): string {
  const list = [...names];
  if (list.length === 0) return "none";
  const shown = list.slice(0, LIST_PREVIEW_LIMIT).join(", ");
  return list.length > LIST_PREVIEW_LIMIT ? `${shown}, ...` : shown;
}

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

function stringLiteralValue(node: SyntaxNode): string | undefined {
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

/** Where a name is bound, for the allowed-variables check. */
type ScopeKind = "module" | "function" | "class" | "lambda" | "comprehension";

interface Scope {
  kind: ScopeKind;
  /** Names declared `global` in a function: binding them writes the kernel's namespace. */
  globals: Set<string>;
}

const COMPREHENSION_TYPES = new Set([
  "list_comprehension",
  "set_comprehension",
  "dictionary_comprehension",
  "generator_expression",
]);

const CLAUSE_TYPES = new Set([
  "elif_clause",
  "else_clause",
  "except_clause",
  "except_group_clause",
  "finally_clause",
]);

/** Node types that group targets without binding anything themselves. */
const TARGET_GROUP_TYPES = new Set([
  "pattern_list",
  "tuple_pattern",
  "list_pattern",
  "tuple",
  "list",
  "expression_list",
  "list_splat_pattern",
  "list_splat",
  "parenthesized_expression",
  "as_pattern_target",
]);

class Checker {
  readonly problems: VerificationProblem[] = [];
  private readonly scopes: Scope[] = [{ kind: "module", globals: new Set() }];
  /** Every name the code assigns so far, for the rename hint. */
  private readonly assignedNames = new Set<string>();
  /** Syntax errors found anywhere; only the earliest is reported, as CPython would. */
  private readonly syntaxCandidates: { line: number; message: string }[] = [];

  constructor(
    private readonly policy: ResolvedPolicy,
    /** Functions and classes the code defines itself, callable under an allowed-functions list. */
    private readonly definedNames: ReadonlySet<string>,
    /** Names bound by the code's own imports, whose import is already checked. */
    private readonly importedNames: ReadonlySet<string>,
    /** Lines that held a magic, now `pass` at the magic's indentation. */
    private readonly skipIndentationLines: ReadonlySet<number> = new Set(),
  ) {}

  private report(line: number, message: string): void {
    this.problems.push({ line, message: `line ${line}: ${message}` });
  }

  // ---- imports -------------------------------------------------------------------------

  private isModuleForbidden(module: string): boolean {
    const { allowedModules, blockedModules } = this.policy;
    return (
      ALWAYS_BLOCKED_MODULES.has(module) ||
      (allowedModules !== undefined && !allowedModules.has(module)) ||
      blockedModules?.has(module) === true
    );
  }

  /** `pd.io.common.os` or an `os` left by an earlier cell: a forbidden module without an import. */
  private checkSystemModuleName(name: string, line: number, isBareName: boolean): boolean {
    if (!SYSTEM_MODULE_NAMES.has(name) || !this.isModuleForbidden(name)) return false;
    // `import os` was reported already; each later `os.` would only repeat it.
    if (isBareName && this.importedNames.has(name)) return true;
    this.report(line, `use of module "${name}" is not allowed, even without an import`);
    return true;
  }

  private checkModule(module: string, line: number, statement: string): void {
    if (ALWAYS_BLOCKED_MODULES.has(module)) {
      this.report(line, `import of module "${module}" is not allowed: it can reach around the code checks`);
      return;
    }
    const { allowedModules, blockedModules } = this.policy;
    if (allowedModules && !allowedModules.has(module)) {
      this.report(
        line,
        `${statement} of module "${module}" is not allowed (allowed: ${preview(allowedModules)})`,
      );
    } else if (blockedModules?.has(module)) {
      this.report(
        line,
        `${statement} of module "${module}" is not allowed (blocked: ${preview(blockedModules)})`,
      );
    }
  }

  private firstSegment(node: SyntaxNode | undefined): string | undefined {
    if (!node) return undefined;
    if (node.type === "aliased_import")
      return this.firstSegment(node.children.find((child) => child.field === "name"));
    if (node.type === "dotted_name") return node.children[0]?.text;
    if (node.type === "identifier") return node.text;
    return undefined;
  }

  private visitImport(node: SyntaxNode): void {
    for (const child of node.children) {
      if (child.field !== "name") continue;
      const module = this.firstSegment(child);
      if (module) this.checkModule(module, child.line, "import");
    }
  }

  private visitImportFrom(node: SyntaxNode): void {
    const moduleNode = node.children.find((child) => child.field === "module_name");
    const importedNames = node.children.filter((child) => child.field === "name");
    if (moduleNode?.type === "relative_import") {
      const dotted = moduleNode.children.find((child) => child.type === "dotted_name");
      if (dotted) {
        this.checkModule(this.firstSegment(dotted)!, node.line, "import");
      } else {
        // `from . import x` imports the sibling module x.
        for (const name of importedNames) {
          const module = this.firstSegment(name);
          if (module) this.checkModule(module, name.line, "import");
        }
      }
    } else {
      const module = this.firstSegment(moduleNode);
      if (module) this.checkModule(module, node.line, "import");
    }
    // `from m import getattr as g` would hide a checked name behind an alias.
    for (const name of importedNames) {
      const imported = this.firstSegment(name);
      if (!imported) continue;
      if (ALWAYS_BLOCKED_NAMES.has(imported) || (DUNDER.test(imported) && !SAFE_DUNDER_NAMES.has(imported))) {
        this.report(name.line, `importing "${imported}" is not allowed: it can reach around the code checks`);
      } else if (SYSTEM_MODULE_NAMES.has(imported) && this.isModuleForbidden(imported)) {
        this.report(name.line, `import of module "${imported}" is not allowed, also from another module`);
      } else if (this.policy.blockedFunctions?.has(imported)) {
        this.report(
          name.line,
          `importing function "${imported}" is not allowed (blocked: ${preview(this.policy.blockedFunctions)})`,
        );
      }
    }
  }

  // ---- names ---------------------------------------------------------------------------

  /** A name read in an expression. `isCallee` leaves the function-list check to `visitCall`. */
  /**
   * A variable that shadows a checked built-in (`open = df["Open"]`, common with stock data)
   * is still flagged, since a conditional assignment could leave the built-in in place; the
   * message tells the model the cheap fix.
   */
  private renameHint(name: string): string {
    return this.assignedNames.has(name) ? `; if "${name}" is your own variable, give it another name` : "";
  }

  private checkNameUse(node: SyntaxNode, isCallee: boolean): void {
    const name = node.text;
    if (ALWAYS_BLOCKED_NAMES.has(name)) {
      this.report(
        node.line,
        `"${name}" is not allowed: it can reach around the code checks${this.renameHint(name)}`,
      );
    } else if (DUNDER.test(name) && !SAFE_DUNDER_NAMES.has(name)) {
      this.report(node.line, `the special name "${name}" is not allowed`);
    } else if (this.checkSystemModuleName(name, node.line, true)) {
      return;
    } else if (!isCallee && this.policy.blockedFunctions?.has(name)) {
      this.report(
        node.line,
        `use of function "${name}" is not allowed (blocked: ${preview(this.policy.blockedFunctions)})` +
          this.renameHint(name),
      );
    }
  }

  /** `isStore`: the attribute is assigned (`args.os = ...`), which reaches no module. */
  private checkAttributeName(node: SyntaxNode, isStore = false): void {
    const name = node.text;
    if (DUNDER.test(name) && !SAFE_DUNDER_ATTRIBUTES.has(name)) {
      this.report(node.line, `access to the special attribute "${name}" is not allowed`);
    } else if (ALWAYS_BLOCKED_ATTRIBUTES.has(name)) {
      this.report(node.line, `"${name}" is not allowed: it can reach around the code checks`);
    } else if (!isStore) {
      this.checkSystemModuleName(name, node.line, false);
    }
  }

  private visitAttribute(node: SyntaxNode): void {
    for (const child of node.children) {
      if (child.field === "attribute") this.checkAttributeName(child);
      else this.visit(child);
    }
  }

  private visitSubscript(node: SyntaxNode): void {
    for (const child of node.children) {
      if (child.field === "subscript") {
        const value = stringLiteralValue(child);
        if (value !== undefined && DUNDER.test(value)) {
          this.report(child.line, `the subscript "${value}" names a special attribute, which is not allowed`);
        }
      }
      this.visit(child);
    }
  }

  // ---- calls ---------------------------------------------------------------------------

  private checkFunctionName(name: string, line: number, isAttribute: boolean): void {
    const alwaysBlocked = isAttribute ? ALWAYS_BLOCKED_ATTRIBUTES : ALWAYS_BLOCKED_NAMES;
    // Already reported as a name that reaches around the checks; once is enough.
    if (alwaysBlocked.has(name) || DUNDER.test(name)) return;
    const { allowedFunctions, blockedFunctions } = this.policy;
    if (allowedFunctions && !allowedFunctions.has(name) && !this.definedNames.has(name)) {
      this.report(line, `call of function "${name}" is not allowed (allowed: ${preview(allowedFunctions)})`);
    } else if (blockedFunctions?.has(name)) {
      this.report(line, `call of function "${name}" is not allowed (blocked: ${preview(blockedFunctions)})`);
    }
  }

  private visitCall(node: SyntaxNode): void {
    for (const child of node.children) {
      if (child.field !== "function") {
        this.visit(child);
        continue;
      }
      let callee = child;
      while (callee.type === "parenthesized_expression" && callee.children.length === 1)
        callee = callee.children[0]!;
      if (callee.type === "identifier") {
        this.checkFunctionName(callee.text, callee.line, false);
        this.checkNameUse(callee, true);
      } else if (callee.type === "attribute") {
        const attribute = callee.children.find((part) => part.field === "attribute");
        if (attribute) this.checkFunctionName(attribute.text, attribute.line, true);
        const object = callee.children.find((part) => part.field === "object");
        const template = object ? stringLiteralValue(object) : undefined;
        if ((attribute?.text === "format" || attribute?.text === "format_map") && template !== undefined) {
          if (FORMAT_FIELD_WITH_DUNDER.test(template)) {
            this.report(
              callee.line,
              "a format string that reads a special attribute (such as {0.__class__}) is not allowed",
            );
          }
        }
        this.visitAttribute(callee);
      } else if (callee.type === "subscript") {
        this.report(
          callee.line,
          "calling a function taken from a subscript (such as funcs[0]()) is not allowed, because the " +
            "function cannot be checked; call it by name",
        );
        this.visit(callee);
      } else {
        if (this.policy.allowedFunctions) {
          this.report(
            callee.line,
            "calling the result of an expression is not allowed when only some functions are allowed, " +
              "because the function cannot be checked; call it by name",
          );
        }
        this.visit(callee);
      }
    }
  }

  // ---- bindings ------------------------------------------------------------------------

  private get scope(): Scope {
    return this.scopes[this.scopes.length - 1]!;
  }

  /** The scope a walrus binds in: comprehensions leak it to the enclosing one. */
  private bindingScope(skipComprehensions: boolean): Scope {
    for (let index = this.scopes.length - 1; index >= 0; index -= 1) {
      const scope = this.scopes[index]!;
      if (!(skipComprehensions && scope.kind === "comprehension")) return scope;
    }
    return this.scopes[0]!;
  }

  private checkBinding(name: string, line: number, what: string, scope: Scope = this.scope): void {
    const allowed = this.policy.allowedVariables;
    if (!allowed || name === "_") return;
    const isGlobal = scope.kind === "module" || (scope.kind === "function" && scope.globals.has(name));
    if (isGlobal && !allowed.has(name)) {
      this.report(line, `${what} "${name}" is not allowed (allowed variables: ${preview(allowed)})`);
    }
  }

  /** Walks an assignment target: names are bound, attributes and subscripts are read. */
  private visitTarget(node: SyntaxNode, scope: Scope = this.scope): void {
    if (node.type === "identifier") {
      if (DUNDER.test(node.text) && !SAFE_DUNDER_NAMES.has(node.text)) {
        this.report(node.line, `assigning the special name "${node.text}" is not allowed`);
      }
      this.assignedNames.add(node.text);
      this.checkBinding(node.text, node.line, "assignment to variable", scope);
    } else if (TARGET_GROUP_TYPES.has(node.type)) {
      for (const child of node.children) this.visitTarget(child, scope);
    } else if (node.type === "attribute") {
      for (const child of node.children) {
        if (child.field === "attribute") this.checkAttributeName(child, true);
        else this.visit(child);
      }
    } else {
      this.visit(node);
    }
  }

  private visitAssignment(node: SyntaxNode): void {
    const hasValue = node.children.some((child) => child.field === "right");
    for (const child of node.children) {
      // `x: int` only annotates; it binds nothing.
      if (child.field === "left" && (hasValue || node.type === "augmented_assignment"))
        this.visitTarget(child);
      else this.visit(child);
    }
  }

  private visitFieldsWithTargets(node: SyntaxNode, targetField: string): void {
    for (const child of node.children) {
      if (child.field === targetField) this.visitTarget(child);
      else this.visit(child);
    }
  }

  private visitAsPattern(node: SyntaxNode): void {
    for (const child of node.children) {
      if (child.field === "alias") this.visitTarget(child);
      else this.visit(child);
    }
  }

  private visitNamedExpression(node: SyntaxNode): void {
    for (const child of node.children) {
      if (child.field === "name") this.visitTarget(child, this.bindingScope(true));
      else this.visit(child);
    }
  }

  // ---- scopes --------------------------------------------------------------------------

  private withScope(kind: ScopeKind, body: () => void): void {
    this.scopes.push({ kind, globals: new Set() });
    try {
      body();
    } finally {
      this.scopes.pop();
    }
  }

  /** Parameter names bind locally; only their defaults and annotations are expressions. */
  private visitParameters(node: SyntaxNode): void {
    for (const parameter of node.children) {
      if (parameter.type === "identifier") continue;
      for (const part of parameter.children) {
        if (part.field === "value" || part.field === "type") this.visit(part);
        else if (part.type !== "identifier") this.visitParameters(part);
      }
    }
  }

  private visitDefinition(node: SyntaxNode, kind: "function" | "class"): void {
    const name = node.children.find((child) => child.field === "name");
    if (name)
      this.checkBinding(
        name.text,
        name.line,
        kind === "function" ? "definition of function" : "definition of class",
      );
    for (const child of node.children) {
      if (child.field === "name") continue;
      if (child.field === "parameters") this.visitParameters(child);
      else if (child.field === "body") this.withScope(kind, () => this.visit(child));
      else this.visit(child);
    }
  }

  private visitLambda(node: SyntaxNode): void {
    for (const child of node.children) {
      if (child.field === "parameters") this.visitParameters(child);
      else if (child.field === "body") this.withScope("lambda", () => this.visit(child));
      else this.visit(child);
    }
  }

  private visitComprehension(node: SyntaxNode): void {
    this.withScope("comprehension", () => {
      for (const child of node.children) {
        if (child.type === "for_in_clause") this.visitFieldsWithTargets(child, "left");
        else this.visit(child);
      }
    });
  }

  private visitCasePattern(node: SyntaxNode): void {
    for (const child of node.children) {
      if (child.type === "dotted_name") {
        // A bare name captures; a dotted one (Color.RED) is a value to compare with.
        if (child.children.length === 1 && child.children[0]!.text !== "_")
          this.visitTarget(child.children[0]!);
        else if (child.children[0]) this.checkNameUse(child.children[0], false);
      } else if (child.type === "class_pattern") {
        for (const part of child.children) {
          if (part.type === "dotted_name" && part.children[0]) this.checkNameUse(part.children[0], false);
          else this.visitCasePattern(part);
        }
      } else if (child.type === "keyword_pattern") {
        // The first identifier names an attribute of the matched class.
        this.visitCasePattern({ ...child, children: child.children.slice(1) });
      } else if (child.type === "splat_pattern" || (child.type === "identifier" && child.field === "alias")) {
        for (const part of child.type === "identifier" ? [child] : child.children) this.visitTarget(part);
      } else if (child.type === "identifier") {
        this.visitTarget(child);
      } else {
        this.visitCasePattern(child);
      }
    }
  }

  // ---- syntax --------------------------------------------------------------------------

  private reportSyntax(node: SyntaxNode, detail: string, sourceLines: readonly string[]): void {
    const source = (sourceLines[node.line - 1] ?? "").trim();
    const shown = source.length > 60 ? `${source.slice(0, 57)}...` : source;
    this.syntaxCandidates.push({ line: node.line, message: `${detail}${shown ? `: ${shown}` : ""}` });
  }

  /**
   * The checks below run block by block, so they do not meet errors in source order;
   * the earliest line wins, and on one line the first found.
   */
  reportEarliestSyntaxError(): void {
    let earliest: { line: number; message: string } | undefined;
    for (const candidate of this.syntaxCandidates) {
      if (!earliest || candidate.line < earliest.line) earliest = candidate;
    }
    if (earliest) this.report(earliest.line, earliest.message);
  }

  /**
   * Statements of one block must share an indentation; tree-sitter accepts a stray indent or
   * an empty block, CPython does not.
   */
  private checkIndentation(node: SyntaxNode, sourceLines: readonly string[]): void {
    const statements = node.children;
    if (node.type === "block" && statements.length === 0) {
      this.reportSyntax(node, "invalid Python syntax, an indented block is expected after", sourceLines);
      return;
    }
    // The first statement sets the level, also at the top: IPython dedents an indented cell.
    let expected: number | undefined;
    for (const statement of statements) {
      if (this.skipIndentationLines.has(statement.line)) continue;
      const before = (sourceLines[statement.line - 1] ?? "").slice(0, statement.column).trimEnd();
      if (before !== "") {
        // Only `;` or a block header (`if x: pass`) may put a statement after code on its line;
        // tree-sitter also splits `import pandas aspd` into two statements.
        if (!before.endsWith(";") && !before.endsWith(":")) {
          this.reportSyntax(statement, "invalid Python syntax, two statements on one line", sourceLines);
          return;
        }
        continue;
      }
      expected ??= statement.column;
      if (statement.column !== expected) {
        this.reportSyntax(statement, "invalid Python syntax, unexpected indentation", sourceLines);
        return;
      }
    }
  }

  /** `else:`, `elif`, `except` and `finally` line up with their statement's keyword. */
  private checkClauseAlignment(node: SyntaxNode, sourceLines: readonly string[]): void {
    for (const clause of node.children) {
      if (!CLAUSE_TYPES.has(clause.type)) continue;
      const before = (sourceLines[clause.line - 1] ?? "").slice(0, clause.column);
      if (before.trim() === "" && clause.column !== node.column) {
        this.reportSyntax(clause, "invalid Python syntax, unexpected indentation", sourceLines);
        return;
      }
    }
  }

  /**
   * Reports the first syntax error in source order: an ERROR or missing node, a Python 2
   * statement, bad indentation, or a statement CPython rejects where it stands (`return`
   * outside a function, `break` outside a loop), which tree-sitter's grammar lets through.
   */
  findSyntaxError(
    node: SyntaxNode,
    sourceLines: readonly string[],
    context: { inFunction: boolean; inLoop: boolean } = { inFunction: false, inLoop: false },
  ): void {
    switch (node.type) {
      case "ERROR":
        return this.reportSyntax(node, "invalid Python syntax", sourceLines);
      case "print_statement":
        return this.reportSyntax(
          node,
          "invalid Python 3 syntax, print is a function: use print(...)",
          sourceLines,
        );
      case "module":
      case "block":
        this.checkIndentation(node, sourceLines);
        break;
      case "if_statement":
      case "for_statement":
      case "while_statement":
      case "try_statement":
        this.checkClauseAlignment(node, sourceLines);
        break;
      case "return_statement":
        if (!context.inFunction)
          return this.reportSyntax(node, 'invalid Python syntax, "return" outside a function', sourceLines);
        break;
      case "yield":
        if (!context.inFunction)
          return this.reportSyntax(node, 'invalid Python syntax, "yield" outside a function', sourceLines);
        break;
      case "break_statement":
      case "continue_statement":
        if (!context.inLoop) {
          const keyword = node.type === "break_statement" ? "break" : "continue";
          return this.reportSyntax(node, `invalid Python syntax, "${keyword}" outside a loop`, sourceLines);
        }
        break;
      default:
        break;
    }
    if (node.isMissing) {
      const token = node.type === "identifier" ? "a name" : `"${node.type}"`;
      return this.reportSyntax(node, `invalid Python syntax, ${token} is missing`, sourceLines);
    }
    let inner = context;
    if (node.type === "function_definition" || node.type === "lambda")
      inner = { inFunction: true, inLoop: false };
    else if (node.type === "class_definition") inner = { inFunction: false, inLoop: false };
    for (const child of node.children) {
      // Only a loop's body is inside the loop: a `break` in its `else:` belongs to the outer one.
      const isLoopBody =
        (node.type === "for_statement" || node.type === "while_statement") && child.field === "body";
      this.findSyntaxError(child, sourceLines, isLoopBody ? { ...inner, inLoop: true } : inner);
    }
  }

  // ---- dispatch ------------------------------------------------------------------------

  visit(node: SyntaxNode): void {
    switch (node.type) {
      case "import_statement":
        return this.visitImport(node);
      case "import_from_statement":
        return this.visitImportFrom(node);
      case "future_import_statement":
        return; // a compiler directive, not a module
      case "identifier":
        return this.checkNameUse(node, false);
      case "attribute":
        return this.visitAttribute(node);
      case "subscript":
        return this.visitSubscript(node);
      case "call":
        return this.visitCall(node);
      case "assignment":
      case "augmented_assignment":
        return this.visitAssignment(node);
      case "for_statement":
        return this.visitFieldsWithTargets(node, "left");
      case "as_pattern":
        return this.visitAsPattern(node);
      case "named_expression":
        return this.visitNamedExpression(node);
      case "function_definition":
        return this.visitDefinition(node, "function");
      case "class_definition":
        return this.visitDefinition(node, "class");
      case "lambda":
        return this.visitLambda(node);
      case "global_statement":
        for (const child of node.children) this.scope.globals.add(child.text);
        return;
      case "nonlocal_statement":
        return;
      case "keyword_argument":
        for (const child of node.children) if (child.field !== "name") this.visit(child);
        return;
      case "case_pattern":
        return this.visitCasePattern(node);
      case "decorator":
        for (const child of node.children) {
          if (child.type === "subscript") {
            this.report(
              child.line,
              "a decorator taken from a subscript (such as @funcs[0]) is not allowed, because the function cannot be checked",
            );
          }
          this.visit(child);
        }
        return;
      case "exec_statement":
        this.report(node.line, `"exec" is not allowed: it can reach around the code checks`);
        return;
      default:
        if (COMPREHENSION_TYPES.has(node.type)) return this.visitComprehension(node);
        for (const child of node.children) this.visit(child);
    }
  }
}

function collectImportedNames(node: SyntaxNode, names: Set<string>): Set<string> {
  if (node.type === "import_statement" || node.type === "import_from_statement") {
    for (const child of node.children) {
      if (child.field !== "name") continue;
      const alias = child.children.find((part) => part.field === "alias");
      const dotted =
        child.type === "aliased_import" ? child.children.find((part) => part.field === "name") : child;
      const bound = alias?.text ?? dotted?.children[0]?.text;
      if (bound) names.add(bound);
    }
    return names;
  }
  for (const child of node.children) collectImportedNames(child, names);
  return names;
}

function collectDefinedNames(node: SyntaxNode, names: Set<string>): Set<string> {
  if (node.type === "function_definition" || node.type === "class_definition") {
    const name = node.children.find((child) => child.field === "name");
    if (name) names.add(name.text);
  }
  for (const child of node.children) collectDefinedNames(child, names);
  return names;
}

/**
 * Checks Python code (a notebook cell, IPython syntax included) against a policy before it
 * runs: imports, calls, names that reach around such checks (always), global names bound,
 * IPython magics and shell lines (only package installs pass), and syntax. Returns the
 * problems sorted by line; an empty list means the code may run.
 *
 * Throws `ConfigError` when the policy is malformed or combines an allowed and a blocked list
 * of one kind.
 */
export async function verifyCode(code: string, policy: VerificationPolicy): Promise<VerificationProblem[]> {
  const resolved = resolvePolicy(policy);
  // A byte order mark is not code; dropping it keeps every line number.
  const scan = scanIPythonLines(code.startsWith("\ufeff") ? code.slice(1) : code);
  const root = await parsePython(scan.pythonCode);
  const checker = new Checker(
    resolved,
    collectDefinedNames(root, new Set()),
    collectImportedNames(root, new Set()),
    scan.replacedLines,
  );
  checker.findSyntaxError(root, scan.pythonCode.split("\n"));
  checker.reportEarliestSyntaxError();
  checker.visit(root);
  const seen = new Set<string>();
  return [...scan.problems, ...checker.problems]
    .filter((problem) => {
      if (seen.has(problem.message)) return false;
      seen.add(problem.message);
      return true;
    })
    .sort((left, right) => left.line - right.line);
}

/**
 * Only the syntax check of `verifyCode`, for Python that is trusted but must parse, such as a
 * plugin's module: the first syntax error, or `undefined`.
 */
export async function findPythonSyntaxError(code: string): Promise<VerificationProblem | undefined> {
  const source = code.startsWith("\ufeff") ? code.slice(1) : code;
  const root = await parsePython(source);
  const checker = new Checker(resolvePolicy({}), new Set(), new Set());
  checker.findSyntaxError(root, source.split("\n"));
  checker.reportEarliestSyntaxError();
  return checker.problems[0];
}

function listRule(
  list: readonly string[] | null | undefined,
  allowed: string,
  blocked: string,
  isAllowList: boolean,
) {
  if (list === null || list === undefined) return undefined;
  if (isAllowList) return list.length === 0 ? `${allowed}: none` : `${allowed}: ${list.join(", ")}`;
  return list.length === 0 ? undefined : `${blocked}: ${list.join(", ")}`;
}

/**
 * The rules a policy enforces, in one paragraph for the model's prompt, so that what the
 * prompt promises is exactly what `verifyCode` checks.
 */
export function describeVerificationPolicy(policy: VerificationPolicy): string {
  resolvePolicy(policy);
  const rules = [
    listRule(policy.allowedModules, "import only these modules", "", true),
    listRule(policy.blockedModules, "", "do not import these modules", false),
    listRule(
      policy.allowedFunctions,
      "call only these functions and methods (and functions you define)",
      "",
      true,
    ),
    listRule(policy.blockedFunctions, "", "do not call or refer to these functions", false),
    listRule(policy.allowedVariables, "assign only these global variable names", "", true),
    `never use ${[...ALWAYS_BLOCKED_NAMES].join(", ")}, the modules ${[...ALWAYS_BLOCKED_MODULES].join(", ")}, ` +
      "special dunder attributes or names (such as __class__, __dict__, __builtins__, also as string subscripts " +
      "or format fields), calls or decorators taken from a subscript (funcs[0]()), " +
      "or a module you may not import reached through another (pd.io.common.os)",
    "no IPython magics or shell commands except package installs (%pip install ..., !pip install ...)",
  ];
  return `${rules.filter((rule) => rule !== undefined).join("; ")}.`;
}

/** Something that checks code before it runs, as the CodeInterpreter role expects it. */
export interface PolicyCodeVerifier {
  /** The rules in a phrase for the prompt (`describeVerificationPolicy`). */
  readonly rules: string;
  verify(code: string): Promise<VerificationProblem[]>;
}

/**
 * A verifier bound to one policy. Throws `ConfigError` at once for a malformed policy.
 * Starts loading the parser in the background, since the first load takes a few hundred
 * milliseconds and the first code usually arrives only after a model call.
 */
export function createCodeVerifier(policy: VerificationPolicy): PolicyCodeVerifier {
  const rules = describeVerificationPolicy(policy);
  // A failed load is reported by the first verify call, which tries again.
  getPythonParser().catch(() => undefined);
  return { rules, verify: (code) => verifyCode(code, policy) };
}
