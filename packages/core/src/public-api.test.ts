import { fileURLToPath } from "node:url";
import { checkPublicApi } from "@taskweaver/public-api";
import { describe, expect, it } from "vitest";

/**
 * Each entry's doc comment lists every name it exports: adding an export means adding it to
 * the list a reviewer reads, and removing one means taking it off.
 */
describe.each([
  ["@taskweaver/core", "./index.ts"],
  ["@taskweaver/core/internal", "./internal/index.ts"],
])("the exports of %s", (_entry, path) => {
  const report = checkPublicApi(fileURLToPath(new URL(path, import.meta.url)));

  it("are all listed in its @publicApi comment", () => {
    expect(report.exported.length).toBeGreaterThan(0);
    expect(report.unlisted).toEqual([]);
  });

  it("include every name the comment lists", () => {
    expect(report.listedButNotExported).toEqual([]);
  });

  it("are named one by one, without export *", () => {
    expect(report.starExports).toEqual([]);
  });
});
