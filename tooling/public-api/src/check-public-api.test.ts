import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkPublicApi, checkPublicApiSource } from "./check-public-api.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

describe("checkPublicApiSource", () => {
  it("reads every export form and the listed names, and agrees when they match", () => {
    const report = checkPublicApiSource(`/**
 * The package.
 *
 * @publicApi
 * Errors: AppError, isAppError
 * Types: Options, Mode,
 *   Result, Shape
 * Values: VERSION, counter, legacy, create, run, Kind, Space, Flag, renamed, ns, Base, default
 */
export { AppError, isAppError } from "./errors.js";
export type { Options, Mode } from "./types.js";
export { type Result, original as renamed } from "./result.js";
export * as ns from "./ns.js";
export const VERSION = "1";
export let counter = 0;
export var legacy = 1;
export async function create() {}
export function* run() {}
export interface Shape {}
export enum Kind { A }
export const enum Flag { On }
export namespace Space {}
export abstract class Base {}
export default Base;
`);
    expect(report.exported).toEqual([
      "AppError", "isAppError", "Options", "Mode", "Result", "renamed", "ns", "VERSION", "counter", "legacy", "create", "run", "Shape", "Kind", "Flag", "Space", "Base", "default",
    ]);
    expect(new Set(report.listed)).toEqual(new Set(report.exported));
    expect(report.unlisted).toEqual([]);
    expect(report.listedButNotExported).toEqual([]);
    expect(report.starExports).toEqual([]);
  });

  it("reports an export missing from the list, and a listed name that is not exported", () => {
    const report = checkPublicApiSource(`/**
 * @publicApi
 * Values: kept, removed
 */
export { kept, added } from "./values.js";
export type Added2 = string;
`);
    expect(report.unlisted).toEqual(["added", "Added2"]);
    expect(report.listedButNotExported).toEqual(["removed"]);
  });

  it("reports export * as a problem, by module", () => {
    const report = checkPublicApiSource(`/**
 * @publicApi
 * Values: a
 */
export { a } from "./a.js";
export * from "./everything.js";
export type * from "./types.js";
`);
    expect(report.starExports).toEqual(["./everything.js", "./types.js"]);
    expect(report.unlisted).toEqual([]);
  });

  it("ignores exports in comments and the lines after the list", () => {
    const report = checkPublicApiSource(`/**
 * @publicApi
 * Values: a
 *
 * Not listed: b
 * @see elsewhere
 */
// export { hidden } from "./hidden.js";
/* export const alsoHidden = 1; */
export { a } from "./a.js"; // export { b }
const text = "export { fake }";
`);
    expect(report.exported).toEqual(["a"]);
    expect(report.listed).toEqual(["a"]);
  });

  it("lists nothing without a @publicApi comment, so every export is unlisted", () => {
    const report = checkPublicApiSource(`/** Just a comment. */\nexport const a = 1;\n`);
    expect(report.listed).toEqual([]);
    expect(report.unlisted).toEqual(["a"]);
  });
});

describe("checkPublicApi", () => {
  it("reads the file at the path", () => {
    const directory = mkdtempSync(join(tmpdir(), "tw-public-api-"));
    directories.push(directory);
    const path = join(directory, "index.ts");
    writeFileSync(path, `/**\n * @publicApi\n * Values: a\n */\nexport const a = 1;\nexport const b = 2;\n`);
    expect(checkPublicApi(path)).toMatchObject({ exported: ["a", "b"], listed: ["a"], unlisted: ["b"] });
  });
});
