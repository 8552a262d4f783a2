import { fileURLToPath } from "node:url";

/**
 * The path of a file of the package's `python/` folder. This module sits one level below the
 * package root, in `src/` as in `dist/`, and so does the code of an app that bundles the
 * executor (`tooling/bundle` copies `python/` beside its output folder): one relative path
 * serves them all, which is why the Python files are found here and nowhere else.
 */
export function pythonFilePath(name: string): string {
  return fileURLToPath(new URL(`../python/${name}`, import.meta.url));
}
