import { describe, expect, it } from "vitest";
import { compareVersions, parseDependency, satisfies } from "./dependencies.js";

describe("dependencies", () => {
  it("parses a name with an optional version bound", () => {
    expect(parseDependency("numpy")).toEqual({ name: "numpy", operator: undefined, version: undefined });
    expect(parseDependency("pandas>=2.0.1")).toEqual({ name: "pandas", operator: ">=", version: "2.0.1" });
    expect(() => parseDependency("numpy=1.24.3")).toThrow(/not a package name with an optional version/);
  });

  it("compares versions by their numbers", () => {
    expect(compareVersions("1.10.0", "1.9")).toBeGreaterThan(0);
    expect(compareVersions("2.0", "2.0.0")).toBe(0);
    expect(satisfies("1.26.4", parseDependency("numpy>=1.24"))).toBe(true);
    expect(satisfies("1.23.0", parseDependency("numpy>1.24"))).toBe(false);
    expect(satisfies("0.1", parseDependency("anything"))).toBe(true);
  });
});
