import type { ResolvedPolicy, VerificationProblem } from "./policy.js";
import { stringLiteralValue } from "./python-strings.js";
import type { SyntaxNode } from "./python-syntax.js";
import {
  DUNDER,
  FORMAT_FIELD_WITH_DUNDER,
  REACH_AROUND_ATTRIBUTES,
  REACH_AROUND_MODULES,
  REACH_AROUND_NAMES,
  SAFE_DUNDER_ATTRIBUTES,
  SAFE_DUNDER_NAMES,
  SYSTEM_MODULE_NAMES,
} from "./reach-around.js";

const LIST_PREVIEW_LIMIT = 12;

function preview(names: ReadonlySet<string>): string {
  const list = [...names];
  if (list.length === 0) return "none";
  const shown = list.slice(0, LIST_PREVIEW_LIMIT).join(", ");
  return list.length > LIST_PREVIEW_LIMIT ? `${shown}, ...` : shown;
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

/**
 * Walks a parsed cell and reports what the policy forbids: imports, calls and names by the
 * module and function lists, global names bound by the variable list, and, whatever the
 * policy, the names, attributes, subscripts and decorators that reach around such checks.
 */
class PolicyChecker {
  readonly problems: VerificationProblem[] = [];
  private readonly scopes: Scope[] = [{ kind: "module", globals: new Set() }];
  /** Every name the code assigns so far, for the rename hint. */
  private readonly assignedNames = new Set<string>();

  constructor(
    private readonly policy: ResolvedPolicy,
    /** Functions and classes the code defines itself, callable under an allowed-functions list. */
    private readonly definedNames: ReadonlySet<string>,
    /** Names bound by the code's own imports, whose import is already checked. */
    private readonly importedNames: ReadonlySet<string>,
  ) {}

  private report(line: number, message: string): void {
    this.problems.push({ line, message: `line ${line}: ${message}` });
  }

  // ---- imports -------------------------------------------------------------------------

  private isModuleForbidden(module: string): boolean {
    const { allowedModules, blockedModules } = this.policy;
    return (
      REACH_AROUND_MODULES.has(module) ||
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
    if (REACH_AROUND_MODULES.has(module)) {
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
      if (REACH_AROUND_NAMES.has(imported) || (DUNDER.test(imported) && !SAFE_DUNDER_NAMES.has(imported))) {
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

  /**
   * A variable that shadows a checked built-in (`open = df["Open"]`, common with stock data)
   * is still flagged, since a conditional assignment could leave the built-in in place; the
   * message tells the model the cheap fix.
   */
  private renameHint(name: string): string {
    return this.assignedNames.has(name) ? `; if "${name}" is your own variable, give it another name` : "";
  }

  /** A name read in an expression. `isCallee` leaves the function-list check to `visitCall`. */
  private checkNameUse(node: SyntaxNode, isCallee: boolean): void {
    const name = node.text;
    if (REACH_AROUND_NAMES.has(name)) {
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
    } else if (REACH_AROUND_ATTRIBUTES.has(name)) {
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
    const alwaysBlocked = isAttribute ? REACH_AROUND_ATTRIBUTES : REACH_AROUND_NAMES;
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
        // Python 2's `exec code` (the syntax checker reports it) runs code like `exec(code)`.
        this.checkFunctionName("exec", node.line, false);
        for (const child of node.children) this.visit(child);
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

/** The policy problems of a parsed cell, in the order found. */
export function checkPolicy(root: SyntaxNode, policy: ResolvedPolicy): VerificationProblem[] {
  const checker = new PolicyChecker(
    policy,
    collectDefinedNames(root, new Set()),
    collectImportedNames(root, new Set()),
  );
  checker.visit(root);
  return checker.problems;
}
