import { execFile, spawnSync } from "node:child_process";
import { ExecutorUnavailableError } from "@taskweaver/core";

const CHECK_SCRIPT = "import sys, ipykernel; print(sys.executable)";

/** The Pythons tried, in order, when `execution_service.python` is not set. */
export const DEFAULT_PYTHON_CANDIDATES = ["python3", "/usr/bin/python3"] as const;

/** How to get a kernel-capable Python; part of every "no Python" error. */
export const INSTALL_HINT =
  "Install ipykernel for it (Debian/Ubuntu: `apt-get install python3-ipykernel`; otherwise `python3 -m pip install ipykernel`), " +
  "or point `execution_service.python` at a Python that has it.";

function unavailable(configured: string | undefined, failures: string[]): ExecutorUnavailableError {
  const tried = failures.map((failure) => `  - ${failure}`).join("\n");
  return new ExecutorUnavailableError(
    configured
      ? `The Python configured in execution_service.python (${configured}) cannot run a kernel:\n${tried}\n${INSTALL_HINT}`
      : `No Python with ipykernel was found; tried:\n${tried}\n${INSTALL_HINT}`,
  );
}

function describeFailure(candidate: string, error: unknown, stderr: string): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT") return `${candidate}: not found`;
  const lastLine = stderr.trim().split("\n").pop() ?? "";
  return `${candidate}: ${lastLine || (error instanceof Error ? error.message : "failed")}`;
}

/**
 * Finds a Python that can `import ipykernel`: the configured one, else the first of
 * `python3` on PATH and `/usr/bin/python3`. Resolves with its real executable path (so pyenv
 * shims are not paid for on each kernel start). Throws ExecutorUnavailableError naming the
 * install command when none works.
 */
export async function findPythonWithIpykernel(options: { configured?: string } = {}): Promise<string> {
  const candidates = options.configured ? [options.configured] : [...DEFAULT_PYTHON_CANDIDATES];
  const failures: string[] = [];
  for (const candidate of candidates) {
    const result = await new Promise<{ stdout: string; stderr: string; error: unknown }>((resolve) => {
      execFile(candidate, ["-c", CHECK_SCRIPT], { timeout: 30_000 }, (error, stdout, stderr) =>
        resolve({ stdout: String(stdout), stderr: String(stderr), error }),
      );
    });
    if (!result.error && result.stdout.trim()) return result.stdout.trim();
    failures.push(describeFailure(candidate, result.error, result.stderr));
  }
  throw unavailable(options.configured, failures);
}

/** Synchronous variant, for test suites deciding up front whether the local runtime can run. */
export function findPythonWithIpykernelSync(options: { configured?: string } = {}): string {
  const candidates = options.configured ? [options.configured] : [...DEFAULT_PYTHON_CANDIDATES];
  const failures: string[] = [];
  for (const candidate of candidates) {
    const result = spawnSync(candidate, ["-c", CHECK_SCRIPT], { encoding: "utf8", timeout: 30_000 });
    if (result.status === 0 && result.stdout.trim()) return result.stdout.trim();
    failures.push(describeFailure(candidate, result.error, result.stderr ?? ""));
  }
  throw unavailable(options.configured, failures);
}
