import { describe, expect, it } from "vitest";
import { parseCommandLine } from "../args.js";
import { parseEvalCommandLine } from "./eval-command.js";

describe("taskweaver eval command line", () => {
  it("hands everything after eval to the eval command", () => {
    expect(parseCommandLine(["eval", "cases", "--replay", "dir"])).toEqual({ command: "eval", argv: ["cases", "--replay", "dir"] });
  });

  it("reads cases, the app, recording and concurrency", () => {
    expect(
      parseEvalCommandLine(["a.yaml", "cases", "-p", "project", "--config", "llm.model=x", "--replay", "rec", "--concurrency", "3", "--max-rounds", "4", "--judge-model", "strong"]),
    ).toEqual({
      cases: ["a.yaml", "cases"],
      projectDir: "project",
      configAssignments: ["llm.model=x"],
      recording: { mode: "replay", dir: "rec" },
      concurrency: 3,
      maxRounds: 4,
      userModelAlias: undefined,
      judgeModelAlias: "strong",
      reportFile: "eval-report.json",
      csvFile: "eval-results.csv",
    });
  });

  it("refuses no cases, both --record and --replay, and a concurrency that is not a positive whole number", () => {
    expect(parseEvalCommandLine([])).toEqual({ invalid: expect.stringMatching(/at least one case/) });
    expect(parseEvalCommandLine(["c", "--record", "a", "--replay", "b"])).toEqual({ invalid: expect.stringMatching(/exclude each other/) });
    expect(parseEvalCommandLine(["c", "--concurrency", "0"])).toEqual({ invalid: expect.stringMatching(/--concurrency needs a whole number above 0/) });
    expect(parseEvalCommandLine(["c", "--bogus"])).toEqual({ invalid: expect.stringMatching(/Unknown option '--bogus'.*taskweaver eval --help/) });
  });
});
