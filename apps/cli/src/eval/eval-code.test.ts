import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { evalCodeProgram } from "./eval-code.js";
import type { ConversationMessage } from "./virtual-user.js";

const PYTHON = process.env["TASKWEAVER_TEST_PYTHON"] ?? "/usr/bin/python3";

const conversation: ConversationMessage[] = [
  { role: "system", content: "play the user" },
  { role: "agent", content: "kick-off" },
  { role: "user", content: "echo 'it' \"please\" \\ ''' " },
  { role: "agent", content: "Hello World" },
];

function runPython(code: string, cwd: string): { status: number | null; stderr: string } {
  const program = join(cwd, "program.py");
  writeFileSync(program, code);
  const result = spawnSync(PYTHON, [program], { cwd, encoding: "utf8" });
  return { status: result.status, stderr: result.stderr };
}

it("gives eval_code the original's chat_history: message classes with content, quoting intact, in the working directory", () => {
  const cwd = mkdtempSync(join(tmpdir(), "tw-eval-code-"));
  try {
    writeFileSync(join(cwd, "a.txt"), "42\n");
    const passing = runPython(
      evalCodeProgram(
        [
          "assert [type(m).__name__ for m in chat_history] == ['SystemMessage', 'HumanMessage', 'AIMessage', 'HumanMessage']",
          "assert isinstance(chat_history[-1], HumanMessage) and chat_history[-1].content == 'Hello World'",
          "assert chat_history[2].content == \"echo 'it' \\\"please\\\" \\\\ ''' \"",
          "assert open('a.txt').read().strip() == '42'",
          "def helper():\n    return chat_history[0]",
          "assert helper().content == 'play the user'",
        ].join("\n"),
        conversation,
      ) + "\nassert '__taskweaver_eval' not in globals() and 'chat_history' not in globals()\n",
      cwd,
    );
    expect(passing.stderr).toBe("");
    expect(passing.status).toBe(0);

    const failing = runPython(evalCodeProgram("assert chat_history[-1].content == 'Bye', 'not bye'", conversation), cwd);
    expect(failing.status).toBe(1);
    expect(failing.stderr).toMatch(/AssertionError: not bye/);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});
