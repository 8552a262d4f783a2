/**
 * The default of `code_interpreter.blocked_functions`, as in the original TaskWeaver: running
 * code by string, files and input, reloading, and attribute access by name. The default is the
 * config's, not the checker's: a `verifyCode` policy without a function list blocks no
 * function by name, and an explicit empty list in the config neither.
 */
export const DEFAULT_BLOCKED_FUNCTIONS: readonly string[] = Object.freeze([
  "eval",
  "exec",
  "execfile",
  "compile",
  "open",
  "input",
  "raw_input",
  "reload",
  "__import__",
  "getattr",
  "setattr",
  "delattr",
  "vars",
  "globals",
  "locals",
  "__getattribute__",
  "__setattr__",
  "__delattr__",
]);
