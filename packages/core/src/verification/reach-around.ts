/**
 * What the policy checker flags whatever the policy says: names, attributes and modules that
 * reach around every static check, and the dunder names that do the same.
 */

/**
 * Built-ins that reach around every static check: attribute access by string, the namespace
 * dictionaries, importing by string, the kernel's own shell. They are flagged whatever the
 * policy says, because a policy that allowed them could not be enforced. Running code by
 * string (`eval`, `exec`, `compile`) is not among them: as in the original TaskWeaver, the
 * function list blocks those (`code_interpreter.blocked_functions`, whose default names them),
 * so a config that empties the list allows them.
 */
export const REACH_AROUND_NAMES: ReadonlySet<string> = new Set([
  "getattr",
  "setattr",
  "delattr",
  "vars",
  "globals",
  "locals",
  "__import__",
  "get_ipython",
  "attrgetter",
  "methodcaller",
]);

/**
 * The subset of those that are also flagged as attribute names (`builtins.getattr`,
 * `operator.attrgetter`).
 */
export const REACH_AROUND_ATTRIBUTES: ReadonlySet<string> = new Set([
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
export const REACH_AROUND_MODULES: ReadonlySet<string> = new Set([
  "builtins",
  "__builtin__",
  "importlib",
  "imp",
]);

/**
 * System modules that allowed libraries re-export (`pd.io.common.os`) or that an earlier cell
 * may have imported: used by name without an import, they are checked like an import.
 */
export const SYSTEM_MODULE_NAMES: ReadonlySet<string> = new Set([
  ...REACH_AROUND_MODULES,
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
export const FORMAT_FIELD_WITH_DUNDER = /\{[^{}]*__\w+__[^{}]*\}/;

/** Dunder names harmless to read: module names and versions (`np.__version__`), `super().__init__()`. */
export const SAFE_DUNDER_NAMES: ReadonlySet<string> = new Set(["__name__"]);
export const SAFE_DUNDER_ATTRIBUTES: ReadonlySet<string> = new Set([
  "__init__",
  "__name__",
  "__qualname__",
  "__doc__",
  "__version__",
]);

export const DUNDER = /^__\w+__$/;
