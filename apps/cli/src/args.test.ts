import { describe, expect, it } from "vitest";
import { parseCommandLine } from "./args.js";

describe("parseCommandLine", () => {
  it("defaults to chat in the current project", () => {
    expect(parseCommandLine([])).toEqual({
      command: "chat",
      projectDir: undefined,
      configAssignments: [],
      files: [],
      demo: false,
      plain: false,
      yes: false,
    });
  });

  it("accepts the chat subcommand, -p and repeated --config in order", () => {
    expect(
      parseCommandLine(["chat", "-p", "proj", "--config", "llm.model=a", "--config=llm.api_key=b"]),
    ).toEqual({
      command: "chat",
      projectDir: "proj",
      configAssignments: ["llm.model=a", "llm.api_key=b"],
      files: [],
      demo: false,
      plain: false,
      yes: false,
    });
    expect(parseCommandLine(["-f", "a.csv", "--file", "dir/b.csv"])).toMatchObject({ files: ["a.csv", "dir/b.csv"] });
    expect(parseCommandLine(["--yes"])).toMatchObject({ yes: true });
    expect(parseCommandLine(["-y"])).toMatchObject({ yes: true });
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

  it("rejects unknown options, commands and stray arguments with a message saying how to fix them", () => {
    const message = (argv: string[]) => {
      const result = parseCommandLine(argv);
      return result.command === "invalid" ? result.message : `not invalid: ${result.command}`;
    };
    expect(message(["--nope"])).toMatch(/--nope.*taskweaver --help/);
    expect(message(["serve"])).toMatch(/Unknown command "serve"/);
    expect(message(["chat", "extra"])).toMatch(/Unexpected argument "extra"/);
    expect(message(["-p"])).toMatch(/--project/);
    expect(message(["-p", " "])).toMatch(/needs a directory/);
  });
});
