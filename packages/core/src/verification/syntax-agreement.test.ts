import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { verifyCode } from "./verify-code.js";

/**
 * The verifier parses with tree-sitter so that it needs no Python; this test holds it to
 * CPython's own compiler on a corpus of valid and broken cells, so a grammar that drifts
 * from the language shows up here. Only the test uses the host Python.
 */
const PYTHON = "/usr/bin/python3";

const CORPUS = [
  // valid
  "import pandas as pd\ndf = pd.read_csv('a.csv')\ndf.describe()",
  "x = [i * 2 for i in range(10) if i % 3]\nprint(x)",
  "def f(a, /, b, *, c=1, **kw) -> int:\n    return a + b + c",
  "class A(B, metaclass=M):\n    x: int = 0\n    def m(self):\n        return super().m()",
  "with open_a() as a, open_b() as b:\n    pass",
  "async def g():\n    async for x in y:\n        await z(x)",
  "match p:\n    case {'x': 1, **rest}:\n        pass\n    case [1, *_]:\n        pass\n    case _:\n        pass",
  "print(f'{x!r:>{width}} {y=}')",
  "lambda *args, **kwargs: (args, kwargs)",
  "try:\n    pass\nexcept* ValueError as group:\n    pass",
  "if (n := len(a)) > 10:\n    print(n)",
  "x = 1 if y else 2\nz = not x\nw = x is not None",
  "@decorator(arg)\n@other\ndef h():\n    yield from range(3)",
  "a, *b = c\n(d, e), f = g",
  "del a[0], b.c\nglobal q\nassert x, 'message'",
  "s = 'abc' 'def' \"ghi\"\nb = rb'\\d+'\nt = '''multi\nline'''",
  "for i in range(3):\n    if i:\n        continue\n    else:\n        break\nelse:\n    pass",
  "while True:\n    break",
  "x = {**a, 'b': 1}\ny = [*a, *b]\nz = {1, 2}",
  "result = df.groupby('a').agg(total=('b', 'sum')).reset_index()",
  "for i in x:\n    def g():\n        return 1\n    break",
  "x = 1; y = 2\nif x: y = 1; z = 2",
  "while x:\n    try:\n        continue\n    finally:\n        pass",
  "if x:\n    # a comment\n    pass\n# another",
  "def outer():\n    for a in b:\n        if a:\n            yield a\n        else:\n            return",
  "class A:\n    def m(self):\n        return [x for x in self]\n\n\n    n = 1",
  "value = (1 +\n         2)\ntext = 'a' \\\n    'b'",
  // broken
  "x = (1, 2\ny = 3",
  "if x\n    pass",
  "def f(:\n    pass",
  "print('unclosed",
  "for in range(3):\n    pass",
  "x = = 1",
  "class :\n    pass",
  "return = 5",
  "a = [1, 2,, 3]",
  "import",
  "from x import",
  "x = 1 +",
  "def f():\nreturn 1",
  "else:\n    pass",
  "print 'python 2'",
  "x = {'a': 1,, 'b': 2}",
  "lambda x: = 1",
  "f(**)",
  "for x in y:\n    pass\n      z = 1",
  "if x:\n    a = 1\n  b = 2",
  "return 1",
  "x = 1\nbreak",
  "class A:\n    return 1",
  "for i in x:\n    def g():\n        break",
  "x = 1\n    y = 2",
  "if x:\n    # only a comment\ny = 1",
  "yield 1",
  "while x:\n    pass\nelse:\n    continue",
];

interface PythonVerdict {
  ok: boolean;
  line: number | null;
}

/** Cells in the style of generated code, to be broken one random edit at a time. */
const MUTATION_SEEDS = [
  [
    "import pandas as pd",
    "df = pd.read_csv('a.csv')",
    "for i, row in df.iterrows():",
    "    if row['x'] > 1:",
    "        print(f'{i}: {row[\"x\"]}')",
    "    else:",
    "        continue",
    "result = df.groupby('a').agg({'b': 'sum'})",
  ].join("\n"),
  [
    "def f(a, b=1, *args, **kw):",
    "    try:",
    "        return [x * 2 for x in args if x]",
    "    except ValueError as e:",
    "        raise RuntimeError('bad') from e",
    "    finally:",
    "        pass",
    "",
    "class A(object):",
    "    def __init__(self, v):",
    "        self.v = v",
  ].join("\n"),
  [
    "with open_it('f') as fh:",
    "    data = {k: v for k, v in zip(a, b)}",
    "    total = sum(data.values()) / len(data)",
    "x = lambda y: y ** 2",
    "print(x(3), total)",
  ].join("\n"),
];

const MUTATION_TOKENS = [
  "(",
  ")",
  ":",
  "=",
  ",",
  "[",
  "]",
  "{",
  "}",
  " ",
  "\n",
  "    ",
  "'",
  '"',
  ".",
  "+",
  "if",
  "def",
];

/** Deterministic edits (delete, insert, replace one character or token) of the seeds. */
function mutations(count: number): string[] {
  let state = 20261125;
  const random = (limit: number) => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state % limit;
  };
  return Array.from({ length: count }, () => {
    const seed = MUTATION_SEEDS[random(MUTATION_SEEDS.length)]!;
    const position = random(seed.length);
    switch (random(3)) {
      case 0:
        return seed.slice(0, position) + seed.slice(position + 1);
      case 1:
        return (
          seed.slice(0, position) + MUTATION_TOKENS[random(MUTATION_TOKENS.length)]! + seed.slice(position)
        );
      default:
        return seed.slice(0, position) + seed[random(seed.length)]! + seed.slice(position + 1);
    }
  });
}

function compileWithPython(snippets: readonly string[]): PythonVerdict[] {
  const script = [
    "import json, sys",
    "out = []",
    "for code in json.load(sys.stdin):",
    "    try:",
    "        compile(code, '<cell>', 'exec', dont_inherit=True)",
    "        out.append({'ok': True, 'line': None})",
    "    except SyntaxError as error:",
    "        out.append({'ok': False, 'line': error.lineno})",
    "print(json.dumps(out))",
  ].join("\n");
  const output = execFileSync(PYTHON, ["-c", script], { input: JSON.stringify(snippets), encoding: "utf8" });
  return JSON.parse(output) as PythonVerdict[];
}

const hasPython = existsSync(PYTHON);
if (!hasPython && process.env.CI === "true") {
  throw new Error(`${PYTHON} is required for the syntax agreement test in CI (apt-get install python3).`);
}

describe.skipIf(!hasPython)("verifyCode agrees with CPython on syntax", () => {
  it("finds a syntax error exactly where CPython does, on the same line or earlier", async () => {
    const verdicts = compileWithPython(CORPUS);
    const disagreements: string[] = [];
    for (const [index, code] of CORPUS.entries()) {
      const verdict = verdicts[index]!;
      const problems = await verifyCode(code, {});
      const syntax = problems.find((problem) => problem.message.includes("syntax"));
      if (verdict.ok && syntax) disagreements.push(`CPython accepts, we report ${syntax.message}:\n${code}`);
      if (!verdict.ok && !syntax)
        disagreements.push(`CPython rejects (line ${verdict.line}), we accept:\n${code}`);
      // Error recovery differs: tree-sitter may blame the line that opens a bracket, CPython the next.
      if (!verdict.ok && syntax && syntax.line > (verdict.line ?? Number.POSITIVE_INFINITY)) {
        disagreements.push(`CPython blames line ${verdict.line}, we blame ${syntax.line}:\n${code}`);
      }
    }
    expect(disagreements).toEqual([]);
  });

  it("never rejects a cell CPython accepts, and finds nearly all errors it finds, on random edits", async () => {
    const cells = mutations(300);
    const verdicts = compileWithPython(cells);
    let rejectedByPython = 0;
    let missed = 0;
    const falseRejections: string[] = [];
    for (const [index, code] of cells.entries()) {
      const verdict = verdicts[index]!;
      const syntax = (await verifyCode(code, {})).find((problem) => problem.message.includes("syntax"));
      if (verdict.ok && syntax) falseRejections.push(`${syntax.message}\n${code}`);
      if (!verdict.ok) {
        rejectedByPython += 1;
        if (!syntax) missed += 1;
      }
    }
    // Blocking valid code would stop a round for nothing: that must never happen.
    expect(falseRejections).toEqual([]);
    // Misses are rare semantic rules (`**a, **b` parameters, starred targets); CPython still stops those at run time.
    expect(rejectedByPython).toBeGreaterThan(100);
    expect(missed / rejectedByPython).toBeLessThan(0.05);
  }, 120_000);

  it("finds no syntax error in modules of CPython's own standard library", async () => {
    const stdlib = execFileSync(PYTHON, ["-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"], {
      encoding: "utf8",
    }).trim();
    const files = readdirSync(stdlib)
      .filter((name) => name.endsWith(".py"))
      .sort()
      .slice(0, 60);
    expect(files.length).toBeGreaterThan(30);
    const reported: string[] = [];
    for (const name of files) {
      const problems = await verifyCode(readFileSync(join(stdlib, name), "utf8"), {});
      const syntax = problems.find((problem) => problem.message.includes("syntax"));
      if (syntax) reported.push(`${name}: ${syntax.message}`);
    }
    expect(reported).toEqual([]);
  }, 120_000);
});
