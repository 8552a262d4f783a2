import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultHistoryPath, loadHistory } from "./history.js";

const tempFile = () => join(mkdtempSync(join(tmpdir(), "tw-history-")), "nested", "history");

describe("loadHistory", () => {
  it("lives in ~/.taskweaver/history by default", () => {
    expect(defaultHistoryPath("/home/ada")).toBe("/home/ada/.taskweaver/history");
  });

  it("keeps entries across loads, multi-line ones included, in a private file", () => {
    const path = tempFile();
    const first = loadHistory(path);
    first.add("count the rows");
    first.add("line one\nline two");
    expect(loadHistory(path).entries).toEqual(["count the rows", "line one\nline two"]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it("skips empty entries and immediate repeats", () => {
    const history = loadHistory(tempFile());
    history.add("a");
    history.add("a");
    history.add("  ");
    history.add("b");
    history.add("a");
    expect(history.entries).toEqual(["a", "b", "a"]);
  });

  it("stays bounded in memory and on disk", () => {
    const path = tempFile();
    const history = loadHistory(path, 3);
    for (let index = 0; index < 20; index += 1) history.add(`request ${index}`);
    expect(history.entries).toEqual(["request 17", "request 18", "request 19"]);
    expect(readFileSync(path, "utf8").trim().split("\n").length).toBeLessThanOrEqual(6);
    expect(loadHistory(path, 3).entries).toEqual(["request 17", "request 18", "request 19"]);
  });

  it("ignores damaged lines and a missing file", () => {
    const path = join(mkdtempSync(join(tmpdir(), "tw-history-")), "history");
    expect(loadHistory(path).entries).toEqual([]);
    writeFileSync(path, '"good"\nnot json\n42\n"also good"\n');
    expect(loadHistory(path).entries).toEqual(["good", "also good"]);
  });
});
