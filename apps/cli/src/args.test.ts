import { describe, expect, it } from "vitest";
import { parseCommandLine, UsageError } from "./args.js";

describe("parseCommandLine", () => {
  it("defaults to chat in the current project", () => {
    expect(parseCommandLine([])).toEqual({
      command: "chat",
      projectDir: undefined,
      configAssignments: [],
      demo: false,
      plain: false,
    });
  });

  it("accepts the chat subcommand, -p and repeated --config in order", () => {
    expect(
      parseCommandLine(["chat", "-p", "proj", "--config", "llm.model=a", "--config=llm.api_key=b"]),
    ).toEqual({
      command: "chat",
      projectDir: "proj",
      configAssignments: ["llm.model=a", "llm.api_key=b"],
      demo: false,
      plain: false,
    });
    expect(parseCommandLine(["--project", "x", "--demo", "--plain"])).toMatchObject({
      projectDir: "x",
      demo: true,
      plain: true,
    });
  });

  it("answers --help and --version before anything else", () => {
    expect(parseCommandLine(["--help"])).toEqual({ command: "help" });
    expect(parseCommandLine(["-h", "-p", "x"])).toEqual({ command: "help" });
    expect(parseCommandLine(["--version"])).toEqual({ command: "version" });
    expect(parseCommandLine(["-v"])).toEqual({ command: "version" });
  });

  it("rejects unknown options, commands and stray arguments with a usage error", () => {
    expect(() => parseCommandLine(["--nope"])).toThrow(UsageError);
    expect(() => parseCommandLine(["--nope"])).toThrow(/--nope.*taskweaver --help/);
    expect(() => parseCommandLine(["serve"])).toThrow(/Unknown command "serve"/);
    expect(() => parseCommandLine(["chat", "extra"])).toThrow(/Unexpected argument "extra"/);
    expect(() => parseCommandLine(["-p"])).toThrow(UsageError);
  });
});
