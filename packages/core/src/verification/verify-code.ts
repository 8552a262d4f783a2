import { checkPolicy } from "./policy-checker.js";
import { resolvePolicy, type VerificationPolicy, type VerificationProblem } from "./policy.js";
import { getPythonParser } from "./python-syntax.js";
import { REACH_AROUND_MODULES, REACH_AROUND_NAMES } from "./reach-around.js";
import { parseCell } from "./syntax-checker.js";

export { findPythonSyntaxError } from "./syntax-checker.js";

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
  const cell = await parseCell(code);
  const seen = new Set<string>();
  return [...cell.problems, ...checkPolicy(cell.root, resolved)]
    .filter((problem) => {
      if (seen.has(problem.message)) return false;
      seen.add(problem.message);
      return true;
    })
    .sort((left, right) => left.line - right.line);
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
    `never use ${[...REACH_AROUND_NAMES].join(", ")}, the modules ${[...REACH_AROUND_MODULES].join(", ")}, ` +
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
