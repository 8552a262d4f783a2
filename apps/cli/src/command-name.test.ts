import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cliCommand, REPOSITORY_COMMAND } from "./command-name.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function binDirectory(withCommand: boolean): string {
  const directory = mkdtempSync(join(tmpdir(), "tw-path-"));
  directories.push(directory);
  if (withCommand) {
    writeFileSync(join(directory, "taskweaver"), "#!/bin/sh\n");
    chmodSync(join(directory, "taskweaver"), 0o755);
  }
  return directory;
}

describe("cliCommand", () => {
  it("says taskweaver when an executable of that name is on PATH", () => {
    expect(cliCommand({ PATH: [binDirectory(false), binDirectory(true)].join(delimiter) })).toBe("taskweaver");
  });

  it("says the repository's pnpm script when it is not", () => {
    expect(cliCommand({ PATH: binDirectory(false) })).toBe(REPOSITORY_COMMAND);
    expect(cliCommand({})).toBe("pnpm --silent taskweaver");
  });
});
