// The installable `taskweaver` bin: apps/cli/src/bin.js running the bundled JavaScript
// (apps/cli/scripts/bundle.mjs) on plain Node, without tsx, from outside the repository and
// through a symlink on PATH, as scripts/setup.sh installs it.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, runCommand } from "../src/index.js";

const BIN = join(REPO_ROOT, "apps/cli/src/bin.js");
let scratch: string;
let binDir: string;

beforeAll(() => {
  execFileSync(process.execPath, [join(REPO_ROOT, "apps/cli/scripts/bundle.mjs")], { stdio: "pipe" });
  scratch = mkdtempSync(join(tmpdir(), "tw-bin-"));
  binDir = join(scratch, "bin");
  mkdirSync(binDir);
  symlinkSync(BIN, join(binDir, "taskweaver"));
}, 60_000);
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** PATH with our bin directory and node's, and nothing from node_modules (no tsx). */
function pathWithBin(): string {
  const nodeDir = join(process.execPath, "..");
  return [binDir, nodeDir, "/usr/bin", "/bin"].join(delimiter);
}

describe("the built taskweaver bin", { timeout: 90_000 }, () => {
  it("prints the package version and the help with plain node", async () => {
    const version = JSON.parse(readFileSync(join(REPO_ROOT, "apps/cli/package.json"), "utf8")).version as string;
    const run = await runCommand(process.execPath, [BIN, "--version"], { cwd: scratch });
    expect(run).toMatchObject({ exitCode: 0, stdout: `${version}\n`, stderr: "" });
    const help = await runCommand(process.execPath, [BIN, "--help"], { cwd: scratch });
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/^Usage: taskweaver/);
  });

  it("replays the demo round through the symlink on PATH, with a real kernel", async () => {
    const demo = JSON.parse(readFileSync(join(REPO_ROOT, "project/demo/demo.json"), "utf8")) as { request: string };
    const run = await runCommand("taskweaver", ["--demo"], {
      cwd: scratch,
      env: { PATH: pathWithBin() },
      input: [demo.request],
    });
    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    // The kernel really ran the recorded code: its groupby output is in the transcript.
    expect(run.stdout).toMatch(/North\s+13109\.5/);
    expect(run.stdout).toContain("TaskWeaver: North had the highest total revenue");
  });

  it("names itself in hints once it is on PATH", async () => {
    const empty = join(scratch, "empty-app");
    mkdirSync(empty);
    writeFileSync(join(empty, "taskweaver_config.json"), "{}\n");
    const run = await runCommand("taskweaver", ["-p", empty], { cwd: scratch, env: { PATH: pathWithBin() } });
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain("To see TaskWeaver without a model, run: taskweaver --demo\n");
  });
});
