import { z } from "zod";
import type { AppConfig } from "../config/load.js";
import { ConfigError } from "../errors.js";

/**
 * What generated code may use. Each list is optional: `null` or absent means "no check of
 * this kind". An allowed list and a blocked list of the same kind cannot be combined.
 */
export interface VerificationPolicy {
  /** Only these top-level modules may be imported (`pandas` allows `pandas.api.types`). @default no check */
  allowedModules?: readonly string[] | null;
  /** These top-level modules may not be imported. @default no check */
  blockedModules?: readonly string[] | null;
  /**
   * Only these functions may be called, matched by the last name (`df.head()` is `head`).
   * Functions and classes defined in the same code are allowed too. @default no check
   */
  allowedFunctions?: readonly string[] | null;
  /** These functions may not be called or referred to by bare name (`f = open`). @default no check */
  blockedFunctions?: readonly string[] | null;
  /**
   * Only these names may be bound in the kernel's global namespace: assignment targets (plain,
   * augmented, annotated with a value, unpacked), `for` targets, `with ... as`, `except ... as`,
   * walrus targets, `match` captures and top-level `def`/`class` names. Names local to a
   * function, class body, lambda or comprehension are not checked, nor are import aliases
   * (the module lists govern imports) nor the throwaway name `_`. @default no check
   */
  allowedVariables?: readonly string[] | null;
}

/** One thing the code must not do, with where it is. */
export interface VerificationProblem {
  /** 1-based line number in the code as given. */
  line: number;
  /**
   * A full sentence starting with `line N: `, ready to show the model as it is, e.g.
   * `line 3: import of module "os" is not allowed (allowed: pandas, numpy)`.
   */
  message: string;
}

const nameList = z.array(z.string().min(1)).readonly().nullish();

const VerificationPolicySchema = z.object({
  allowedModules: nameList,
  blockedModules: nameList,
  allowedFunctions: nameList,
  blockedFunctions: nameList,
  allowedVariables: nameList,
});

/** A policy checked once, with lists turned into sets. */
export interface ResolvedPolicy {
  allowedModules: ReadonlySet<string> | undefined;
  blockedModules: ReadonlySet<string> | undefined;
  allowedFunctions: ReadonlySet<string> | undefined;
  blockedFunctions: ReadonlySet<string> | undefined;
  allowedVariables: ReadonlySet<string> | undefined;
}

function toSet(list: readonly string[] | null | undefined): ReadonlySet<string> | undefined {
  return list === null || list === undefined ? undefined : new Set(list);
}

/** Validates a policy; throws `ConfigError` for wrong types or allowed + blocked of one kind. */
export function resolvePolicy(policy: VerificationPolicy): ResolvedPolicy {
  const parsed = VerificationPolicySchema.safeParse(policy);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(
      `The code verification policy is invalid at "${issue?.path.join(".") ?? ""}": ` +
        `${issue?.message ?? "wrong type"}. Each list must be an array of names, or null for no check.`,
    );
  }
  const value = parsed.data;
  for (const [allowed, blocked, kind] of [
    ["allowedModules", "blockedModules", "modules"],
    ["allowedFunctions", "blockedFunctions", "functions"],
  ] as const) {
    if (value[allowed] != null && value[blocked] != null) {
      throw new ConfigError(
        `The code verification policy sets both ${allowed} and ${blocked}; ` +
          `use an allowed list or a blocked list of ${kind}, not both ` +
          `(config keys code_interpreter.allowed_${kind} and code_interpreter.blocked_${kind}).`,
      );
    }
  }
  return {
    allowedModules: toSet(value.allowedModules),
    blockedModules: toSet(value.blockedModules),
    allowedFunctions: toSet(value.allowedFunctions),
    blockedFunctions: toSet(value.blockedFunctions),
    allowedVariables: toSet(value.allowedVariables),
  };
}

/** Options for `verificationPolicyFromConfig`. */
export interface VerificationPolicyFromConfigOptions {
  /**
   * Names that generated code may always call, added to an allowed-functions list when there
   * is one (the loaded plugins' names, since plugins are called like functions).
   * @default []
   */
  extraAllowedFunctions?: readonly string[];
}

type ListKey =
  | "code_interpreter.allowed_modules"
  | "code_interpreter.blocked_modules"
  | "code_interpreter.allowed_functions"
  | "code_interpreter.blocked_functions"
  | "code_interpreter.allowed_variables";

function readList(
  config: AppConfig,
  key: ListKey,
): { list: readonly string[] | undefined; explicit: boolean } {
  // An explicit `null` in the file switches a check off even where the key has a default list.
  if (config.raw(key) === null) return { list: undefined, explicit: true };
  return { list: config.get(key), explicit: config.origin(key).kind !== "default" };
}

function pick(
  config: AppConfig,
  allowedKey: ListKey,
  blockedKey: ListKey,
): { allowed: readonly string[] | undefined; blocked: readonly string[] | undefined } {
  const allowed = readList(config, allowedKey);
  const blocked = readList(config, blockedKey);
  if (allowed.list !== undefined && blocked.list !== undefined) {
    // A default list gives way to a list the user set for the opposite kind.
    if (allowed.explicit && !blocked.explicit) return { allowed: allowed.list, blocked: undefined };
    if (blocked.explicit && !allowed.explicit) return { allowed: undefined, blocked: blocked.list };
    if (allowed.explicit && blocked.explicit) {
      throw new ConfigError(
        `Both ${allowedKey} (from ${describe(config, allowedKey)}) and ${blockedKey} ` +
          `(from ${describe(config, blockedKey)}) are set; keep one of them, or set the other to null.`,
      );
    }
  }
  return { allowed: allowed.list, blocked: blocked.list };
}

function describe(config: AppConfig, key: string): string {
  const origin = config.origin(key);
  switch (origin.kind) {
    case "file":
      return origin.path;
    case "environment":
      return `environment variable ${origin.variable}`;
    case "override":
      return "an override";
    case "default":
      return "the default";
  }
}

/**
 * The policy configured by `code_interpreter.allowed_modules`, `blocked_modules`,
 * `allowed_functions`, `blocked_functions` and `allowed_variables`. A default list yields to
 * an explicitly set list of the opposite kind (setting `blocked_modules` replaces the default
 * `allowed_modules`); both set explicitly is a `ConfigError`.
 */
export function verificationPolicyFromConfig(
  config: AppConfig,
  options: VerificationPolicyFromConfigOptions = {},
): VerificationPolicy {
  const modules = pick(config, "code_interpreter.allowed_modules", "code_interpreter.blocked_modules");
  const functions = pick(config, "code_interpreter.allowed_functions", "code_interpreter.blocked_functions");
  const extra = options.extraAllowedFunctions ?? [];
  return {
    allowedModules: modules.allowed ?? null,
    blockedModules: modules.blocked ?? null,
    allowedFunctions: functions.allowed ? [...functions.allowed, ...extra] : null,
    blockedFunctions: functions.blocked ?? null,
    allowedVariables: readList(config, "code_interpreter.allowed_variables").list ?? null,
  };
}
