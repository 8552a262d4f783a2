import { readFile } from "node:fs/promises";
import type { PluginLoadSpec } from "@taskweaver/core";
import { pythonFilePath } from "../python-files.js";

/** MIME type of the private displays the support code sends (artifacts, plugin logs); never shown to users. */
export const EVENT_MIME = "application/vnd.taskweaver.event+json";

/**
 * How the support code marks the `input_request` prompts that are host calls (JSON after the
 * prefix) rather than a user's `input()`. Must match `HOST_CALL_PREFIX` in taskweaver_support.py.
 */
export const HOST_CALL_PREFIX = "\u001etaskweaver-host-call:";

/** Where the Python support code lives: `python/` next to `src/` and `dist/` in the package. */
export const SUPPORT_CODE_PATH = pythonFilePath("taskweaver_support.py");

let supportSource: Promise<string> | undefined;

/** The Python support module's source, read once per process (again after a failed read). */
export function readSupportSource(): Promise<string> {
  supportSource ??= readFile(SUPPORT_CODE_PATH, "utf8");
  supportSource.catch(() => (supportSource = undefined));
  return supportSource;
}

/**
 * A JSON string literal is also a valid Python string literal (same escapes), which lets us hand
 * any text to Python without building Python syntax by hand.
 */
export function pythonString(text: string): string {
  return JSON.stringify(text);
}

/** Options the support code's `install` receives. */
export interface SupportInstallOptions {
  /** Kernel-side working directory; the kernel `chdir`s there and saves artifacts there. */
  workdir?: string;
  /** Host process id: the kernel exits when its parent is no longer this process (local kernels only). */
  parent_pid?: number;
  /** Skip ipykernel's cross-thread round trip when flushing an empty stdout/stderr (lower latency). @default true */
  skip_empty_flushes?: boolean;
  /** Characters of stdout+stderr a cell may send; the rest is dropped in the kernel and counted. */
  max_output_chars?: number;
}

/**
 * Code that turns the support source into the in-memory module `_taskweaver_support` and
 * installs it, without leaving any name in the user's namespace.
 */
export function createBootstrapCode(source: string, options: SupportInstallOptions): string {
  return (
    `(lambda __source, __options: (lambda __module: (` +
    `exec(compile(__source, "taskweaver_support.py", "exec"), __module.__dict__), ` +
    `__import__("sys").modules.__setitem__("_taskweaver_support", __module), ` +
    `__module.install(__options)))(__import__("types").ModuleType("_taskweaver_support")))` +
    `(${pythonString(source)}, ${pythonString(JSON.stringify(options))})`
  );
}

/** Code that loads a plugin module and binds it by name in the user namespace. */
export function createLoadPluginCode(plugin: PluginLoadSpec): string {
  return (
    `__import__("_taskweaver_support").load_plugin(` +
    `${pythonString(plugin.name)}, ${pythonString(plugin.code)}, ${pythonString(JSON.stringify(plugin.config))})`
  );
}

export function createSetSessionVariablesCode(variables: Record<string, string>): string {
  return `__import__("_taskweaver_support").set_session_variables(${pythonString(JSON.stringify(variables))})`;
}

/**
 * Code that binds a kernel started ahead (warm pool, support code already installed) to a
 * session's working directory: `chdir` there and save artifacts there. One short execute.
 */
export function createBindWorkingDirectoryCode(workdir: string): string {
  return `__import__("_taskweaver_support").bind_workdir(${pythonString(workdir)})`;
}
