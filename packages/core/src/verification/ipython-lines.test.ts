import { describe, expect, it } from "vitest";
import { scanIPythonLines } from "./ipython-lines.js";

describe("scanIPythonLines", () => {
  it("leaves plain Python untouched", () => {
    const code = "import pandas as pd\nx = 10 % 3\nprint(x != 1)\n";
    expect(scanIPythonLines(code)).toEqual({ pythonCode: code, problems: [], replacedLines: new Set() });
  });

  it("replaces magic and shell lines by pass at the same indentation, keeping the line count", () => {
    const code = "%pip install pandas\nif True:\n    !pip install numpy\n    x = 1\n";
    const scan = scanIPythonLines(code);
    expect(scan.problems).toEqual([]);
    expect(scan.pythonCode).toBe("pass\nif True:\n    pass\n    x = 1\n");
    expect(scan.pythonCode.split("\n")).toHaveLength(code.split("\n").length);
  });

  it("blanks everything from a cell magic on", () => {
    const scan = scanIPythonLines("x = 1\n%%bash\nls\necho hi");
    expect(scan.pythonCode).toBe("x = 1\n\n\n");
    expect(scan.problems).toEqual([{ line: 2, message: expect.stringContaining('cell magic "%%bash"') }]);
  });

  it("reports each disallowed line with its own line number", () => {
    const scan = scanIPythonLines("!ls\nx = 1\n%run a.py\n!pip install ok\n%env A=1");
    expect(scan.problems.map((problem) => problem.line)).toEqual([1, 3, 5]);
  });

  it("ignores magic-looking lines inside triple-quoted strings, brackets and continuations", () => {
    const code = "s = '''\n!ls\n%run x\n'''\nt = (1\n% 2)\nu = 1 \\\n    % 2\nv = \"a\\\n!b\"\n";
    const scan = scanIPythonLines(code);
    expect(scan.problems).toEqual([]);
    expect(scan.pythonCode).toBe(code);
  });

  it("finds a magic again after a closed string or bracket", () => {
    const scan = scanIPythonLines('s = """x\ny"""\n!ls\nt = (1,\n 2)\n%cd /');
    expect(scan.problems.map((problem) => problem.line)).toEqual([3, 6]);
  });

  it("does not let a quote in a comment open a string", () => {
    const scan = scanIPythonLines("x = 1  # don't\n!ls");
    expect(scan.problems.map((problem) => problem.line)).toEqual([2]);
  });

  it("shortens long magic lines in messages", () => {
    const scan = scanIPythonLines(`!echo ${"a".repeat(200)}`);
    expect(scan.problems[0]!.message.length).toBeLessThan(200);
    expect(scan.problems[0]!.message).toContain("...");
  });
});
