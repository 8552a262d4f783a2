import { ConfigError, type CodeExecutor } from "@taskweaver/core";

/** A parsed dependency: `pandas`, `numpy>=1.24`, `scipy==1.11.0`. */
export interface Dependency {
  name: string;
  operator: ">=" | ">" | "==" | "<=" | "<" | undefined;
  version: string | undefined;
}

/** Parses a dependency line of a case. Throws `ConfigError` for one that is not `name[op version]`. */
export function parseDependency(text: string): Dependency {
  const match = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:(>=|>|==|<=|<)\s*([0-9][0-9A-Za-z.]*))?\s*$/.exec(text);
  if (!match) {
    throw new ConfigError(
      `The dependency "${text}" is not a package name with an optional version, e.g. "pandas" or "numpy>=1.24".`,
    );
  }
  return { name: match[1]!, operator: match[2] as Dependency["operator"], version: match[3] };
}

function numericParts(version: string): number[] {
  return version.split(".").map((part) => Number.parseInt(part, 10) || 0);
}

/** Compares dotted versions by their numeric parts (`1.10` > `1.9`); negative, zero or positive. */
export function compareVersions(left: string, right: string): number {
  const a = numericParts(left);
  const b = numericParts(right);
  for (let index = 0; index < Math.max(a.length, b.length); index += 1) {
    const difference = (a[index] ?? 0) - (b[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** Whether an installed version meets the dependency. */
export function satisfies(installed: string, dependency: Dependency): boolean {
  if (dependency.operator === undefined || dependency.version === undefined) return true;
  const order = compareVersions(installed, dependency.version);
  switch (dependency.operator) {
    case ">=":
      return order >= 0;
    case ">":
      return order > 0;
    case "==":
      return order === 0;
    case "<=":
      return order <= 0;
    case "<":
      return order < 0;
  }
}

/**
 * Checks the case's Python packages in the session's kernel, where the agent's code will run.
 * Throws `ConfigError` naming every package that is missing or too old.
 */
export async function checkDependencies(executor: Pick<CodeExecutor, "execute">, lines: readonly string[]): Promise<void> {
  const dependencies = lines.map(parseDependency);
  const names = JSON.stringify(dependencies.map((dependency) => dependency.name));
  const result = await executor.execute(
    `def __taskweaver_versions():
    import importlib.metadata, json
    found = {}
    for name in json.loads(${JSON.stringify(names)}):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    print(json.dumps(found))

try:
    __taskweaver_versions()
finally:
    del __taskweaver_versions
`,
  );
  if (!result.isSuccess) {
    throw new ConfigError(`The dependencies could not be checked in the kernel: ${result.error?.value ?? result.outcome}`);
  }
  const installed = JSON.parse(result.stdout.join("").trim().split("\n").at(-1) ?? "{}") as Record<string, string | null>;
  const problems = dependencies.flatMap((dependency) => {
    const version = installed[dependency.name];
    if (version === null || version === undefined) return [`${dependency.name} is not installed`];
    if (!satisfies(version, dependency)) {
      return [`${dependency.name} ${version} is installed, but the case needs ${dependency.operator}${dependency.version}`];
    }
    return [];
  });
  if (problems.length > 0) {
    throw new ConfigError(`The case's dependencies are not met in the kernel's Python: ${problems.join("; ")}.`);
  }
}
