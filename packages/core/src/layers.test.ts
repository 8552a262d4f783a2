import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The layers of the package, lowest first (also written at the top of index.ts). A file may
 * import from its own layer or a lower one, never a higher one, so shared helpers live below
 * every user. Tests are left out: they may import anything.
 */
const LAYERS: readonly (readonly string[])[] = [
  ["errors.ts", "text", "parsing"],
  ["memory", "events", "executor", "config", "usage"],
  ["llm", "tracing"],
  ["model-calls", "prompts", "verification", "plugins", "mcp", "examples"],
  ["compression", "experience"],
  ["roles"],
  ["session"],
  ["app.ts", "testing"],
  ["index.ts", "internal"],
];

const root = dirname(fileURLToPath(import.meta.url));

function layerOf(file: string): number {
  const top = relative(root, file).split("/")[0]!;
  const index = LAYERS.findIndex((layer) => layer.includes(top));
  if (index === -1) throw new Error(`${relative(root, file)} is in no layer: add its folder to LAYERS`);
  return index;
}

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") ? [path] : [];
  });
}

describe("core layers", () => {
  it("has no import from a lower layer to a higher one", () => {
    const upward: string[] = [];
    for (const file of sourceFiles(root)) {
      const text = readFileSync(file, "utf8");
      for (const match of text.matchAll(/\bfrom\s+"(\.{1,2}\/[^"]+)"/g)) {
        const target = resolve(dirname(file), match[1]!.replace(/\.js$/, ".ts"));
        if (layerOf(target) > layerOf(file)) upward.push(`${relative(root, file)} -> ${relative(root, target)}`);
      }
    }
    expect(upward).toEqual([]);
  });
});
