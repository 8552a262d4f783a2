import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The Python with ipykernel that tests use (Debian's, installed by scripts/setup.sh). */
export const TEST_PYTHON = process.env["TASKWEAVER_TEST_PYTHON"] ?? "/usr/bin/python3";

export interface TestAppDir {
  path: string;
  remove(): void;
}

/**
 * A fresh app directory in a temp folder: a copy of the sample `project/` (or empty) with the
 * given config keys written into its `taskweaver_config.json`.
 */
export function createTestAppDir(options: { config?: Record<string, unknown>; copySample?: boolean } = {}): TestAppDir {
  const path = mkdtempSync(join(tmpdir(), "tw-app-"));
  if (options.copySample !== false) {
    cpSync(join(REPO_ROOT, "project", "sample_data"), join(path, "sample_data"), { recursive: true });
  }
  writeFileSync(
    join(path, "taskweaver_config.json"),
    JSON.stringify({ "execution_service.python": TEST_PYTHON, ...options.config }, null, 2),
  );
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
