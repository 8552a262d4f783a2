import { describe, expect, it } from "vitest";
import { checkPublicApi } from "./check-public-api.js";

/**
 * The tests a package runs on its entries: each entry's doc comment lists every name it
 * exports, so adding an export means adding it to the list a reviewer reads, and removing one
 * means taking it off. `entries` maps an entry's name (`@taskweaver/core/internal`) to the
 * absolute path of its index file.
 */
export function describePublicApi(entries: Record<string, string>): void {
  describe.each(Object.entries(entries))("the exports of %s", (_entry, path) => {
    const report = checkPublicApi(path);

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
}
