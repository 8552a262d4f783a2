import { relative } from "node:path";
import type { PluginLoadState, PluginStatus } from "../executor/contract.js";
import type { PluginSpec } from "./plugin-spec.js";

/**
 * Debian packages for modules whose package name is not `python3-<module>`. Most modules follow
 * the rule, so only the exceptions are listed.
 */
const DEBIAN_PACKAGE_OF_MODULE: Record<string, string> = {
  sklearn: "python3-sklearn",
  yaml: "python3-yaml",
  PIL: "python3-pil",
  bs4: "python3-bs4",
  cv2: "python3-opencv",
  dateutil: "python3-dateutil",
  serial: "python3-serial",
  Crypto: "python3-pycryptodome",
};

/** The module a `ModuleNotFoundError` names, e.g. `requests` of `requests.adapters`. */
export function missingModuleOf(error: string): string | undefined {
  const match = /^(?:ModuleNotFoundError|ImportError): No module named '([^']+)'/.exec(error);
  return match?.[1]?.split(".")[0];
}

function hintFor(error: string): string {
  const module = missingModuleOf(error);
  if (!module) return "fix the plugin's code, or set enabled: false in its YAML file to leave it out";
  const debianPackage = DEBIAN_PACKAGE_OF_MODULE[module] ?? `python3-${module.toLowerCase().replaceAll("_", "-")}`;
  return (
    `install ${module} into the kernel's Python (on Debian: apt-get install ${debianPackage}), ` +
    `or point execution_service.python at an environment that has it`
  );
}

/** Joins the kernel's load results with the plugins' files into what frontends show. */
export function pluginStatuses(
  specs: readonly PluginSpec[],
  states: readonly PluginLoadState[],
  appDirectory?: string,
): PluginStatus[] {
  const stateOf = new Map(states.map((state) => [state.name, state]));
  return specs.map((spec) => {
    const state = stateOf.get(spec.name) ?? { name: spec.name, loaded: true };
    if (state.loaded) return { name: spec.name, loaded: true };
    const file = appDirectory ? relative(appDirectory, spec.codeFile) : spec.codeFile;
    const error = state.error ?? "it did not load";
    return { name: spec.name, loaded: false, error, file, hint: hintFor(error) };
  });
}

/** One line for a plugin that did not load: name, reason, file and what to do. */
export function describePluginStatus(status: PluginStatus): string {
  if (status.loaded) return `plugin ${status.name} is loaded`;
  return (
    `plugin ${status.name} could not be loaded and is left out: ${status.error ?? "unknown error"}` +
    `${status.file ? ` (${status.file})` : ""}${status.hint ? `; ${status.hint}` : ""}.`
  );
}

/** True when two status lists say the same (same plugins, same outcome, same error). */
export function samePluginStatuses(left: readonly PluginStatus[], right: readonly PluginStatus[]): boolean {
  if (left.length !== right.length) return false;
  return left.every((status, index) => {
    const other = right[index];
    return other !== undefined && other.name === status.name && other.loaded === status.loaded && other.error === status.error;
  });
}
