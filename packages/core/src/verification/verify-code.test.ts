import { describe, expect, it } from "vitest";
import { ConfigError } from "../errors.js";
import type { VerificationPolicy } from "./policy.js";
import { createCodeVerifier, verifyCode } from "./verify-code.js";

const DATA_POLICY: VerificationPolicy = {
  allowedModules: ["pandas", "numpy", "matplotlib", "sklearn"],
  blockedFunctions: ["eval", "exec", "open", "input", "compile"],
};

async function messages(code: string, policy: VerificationPolicy = DATA_POLICY): Promise<string[]> {
  return (await verifyCode(code, policy)).map((problem) => problem.message);
}

async function expectClean(code: string, policy: VerificationPolicy = DATA_POLICY): Promise<void> {
  expect(await messages(code, policy)).toEqual([]);
}

describe("verifyCode: imports", () => {
  it("accepts imports of allowed modules, with submodules and aliases", async () => {
    await expectClean(
      [
        "import pandas as pd",
        "import numpy",
        "import matplotlib.pyplot as plt",
        "from sklearn.linear_model import LinearRegression",
        "from pandas import DataFrame, Series as S",
      ].join("\n"),
    );
  });

  it("flags an import of a module outside the allowed list with its line and the allowed names", async () => {
    const problems = await verifyCode("import pandas as pd\n\nimport os\n", DATA_POLICY);
    expect(problems).toEqual([
      {
        line: 3,
        message: 'line 3: import of module "os" is not allowed (allowed: pandas, numpy, matplotlib, sklearn)',
      },
    ]);
  });

  it("checks the first segment of a dotted import", async () => {
    expect(await messages("import os.path")).toEqual([expect.stringContaining('module "os"')]);
    expect(await messages("from os.path import join")).toEqual([expect.stringContaining('module "os"')]);
    await expectClean("import pandas.api.types");
  });

  it("checks every module of a multi-module import", async () => {
    const found = await messages("import numpy, subprocess, sys as system");
    expect(found).toHaveLength(2);
    expect(found[0]).toContain('"subprocess"');
    expect(found[1]).toContain('"sys"');
  });

  it("checks a wildcard import by its module", async () => {
    expect(await messages("from shutil import *")).toEqual([expect.stringContaining('module "shutil"')]);
    await expectClean("from numpy import *");
  });

  it("checks relative imports by their first dotted segment, or by the imported name", async () => {
    expect(await messages("from .helpers import load")).toEqual([
      expect.stringContaining('module "helpers"'),
    ]);
    expect(await messages("from . import secrets")).toEqual([expect.stringContaining('module "secrets"')]);
    await expectClean("from .pandas import x", { allowedModules: ["pandas"] });
  });

  it("flags only the blocked modules when a blocked list is given", async () => {
    const policy = { blockedModules: ["os", "subprocess"] };
    await expectClean("import json\nimport requests", policy);
    expect(await messages("import json\nfrom subprocess import run", policy)).toEqual([
      'line 2: import of module "subprocess" is not allowed (blocked: os, subprocess)',
    ]);
  });

  it("does not check modules without a module list", async () => {
    await expectClean("import os\nimport sys", {});
    await expectClean("import os", { allowedModules: null, blockedModules: null });
  });

  it("accepts __future__ imports, which are compiler directives", async () => {
    await expectClean("from __future__ import annotations");
  });

  it("always flags modules that import or reach built-ins by name", async () => {
    for (const code of [
      "import builtins",
      "import importlib",
      "from importlib import import_module",
      "import imp",
    ]) {
      const found = await messages(code, {});
      expect(found, code).toEqual([expect.stringContaining("can reach around the code checks")]);
    }
  });

  it("flags a forbidden system module reached through an allowed one or left by an earlier cell", async () => {
    expect(await messages("import pandas as pd\npd.io.common.os.system('ls')")).toEqual([
      'line 2: use of module "os" is not allowed, even without an import',
    ]);
    expect(await messages("sys.exit(1)")).toEqual([
      'line 1: use of module "sys" is not allowed, even without an import',
    ]);
    expect(await messages("from pandas.io.common import os")).toEqual([
      'line 1: import of module "os" is not allowed, also from another module',
    ]);
    expect(await messages("x = np.subprocess", { blockedModules: ["subprocess"] })).toHaveLength(1);
  });

  it("reports a forbidden import once, not again at each use", async () => {
    expect(await messages("import os\nos.getcwd()\nos.listdir('.')")).toEqual([
      'line 1: import of module "os" is not allowed (allowed: pandas, numpy, matplotlib, sklearn)',
    ]);
  });

  it("accepts system module names when the policy allows them, or as assigned attributes", async () => {
    await expectClean("import os\nos.getcwd()\npd.io.common.os", { allowedModules: ["os", "pandas"] });
    await expectClean("os.getcwd()", { blockedModules: ["subprocess"] });
    await expectClean("args.os = 'linux'\nconfig.sys = 1");
  });

  it("flags importing a blocked or check-evading function under another name", async () => {
    expect(await messages("from io import open as o", { blockedFunctions: ["open"] })).toEqual([
      'line 1: importing function "open" is not allowed (blocked: open)',
    ]);
    expect(await messages("from operator import attrgetter", {})).toEqual([
      'line 1: importing "attrgetter" is not allowed: it can reach around the code checks',
    ]);
    expect(await messages("from somewhere import getattr as g", {})).toEqual([
      'line 1: importing "getattr" is not allowed: it can reach around the code checks',
    ]);
  });
});

describe("verifyCode: function calls", () => {
  it("accepts ordinary library calls", async () => {
    await expectClean(
      [
        "import pandas as pd",
        'df = pd.read_csv("data.csv")',
        "df.describe()",
        'df.groupby("a")["b"].sum()',
        "print(len(df))",
      ].join("\n"),
    );
  });

  it("flags a blocked function called by name", async () => {
    expect(await messages('df = 1\nopen("x")')).toEqual([
      'line 2: call of function "open" is not allowed (blocked: eval, exec, open, input, compile)',
    ]);
  });

  it("flags a blocked function called as a method, matched by its last name", async () => {
    expect(await messages("import pandas as pd\npd.io.open('x')", { blockedFunctions: ["open"] })).toEqual([
      'line 2: call of function "open" is not allowed (blocked: open)',
    ]);
  });

  it("flags a blocked function behind parentheses", async () => {
    expect(await messages('(open)("x")', { blockedFunctions: ["open"] })).toEqual([
      'line 1: call of function "open" is not allowed (blocked: open)',
    ]);
  });

  it("flags a blocked function passed around by bare name", async () => {
    expect(
      await messages("reader = open\nfiles = list(map(open, names))", { blockedFunctions: ["open"] }),
    ).toEqual([
      'line 1: use of function "open" is not allowed (blocked: open)',
      'line 2: use of function "open" is not allowed (blocked: open)',
    ]);
  });

  it("suggests a rename when the code's own variable shadows a blocked function", async () => {
    expect(await messages("open = df['Open']\nprint(open.mean())", { blockedFunctions: ["open"] })).toEqual([
      'line 2: use of function "open" is not allowed (blocked: open); if "open" is your own variable, give it another name',
    ]);
    expect(await messages("vars = ['a']\nprint(vars)", {})).toEqual([
      'line 2: "vars" is not allowed: it can reach around the code checks; if "vars" is your own variable, give it another name',
    ]);
  });

  it("does not flag a blocked name used only as an attribute that is not called", async () => {
    await expectClean("mode = handle.open", { blockedFunctions: ["open"] });
  });

  it("with an allowed list, flags other calls and accepts functions the code defines", async () => {
    const policy = { allowedFunctions: ["print", "read_csv", "head"] };
    await expectClean(
      [
        "def summarize(frame):",
        "    print(frame.head())",
        "class Box:",
        "    pass",
        "summarize(pd.read_csv('a.csv'))",
        "b = Box()",
      ].join("\n"),
      policy,
    );
    expect(await messages("df.to_csv('x')", policy)).toEqual([
      'line 1: call of function "to_csv" is not allowed (allowed: print, read_csv, head)',
    ]);
  });

  it("with an allowed list, flags calls of expressions whose function cannot be named", async () => {
    const found = await messages("(lambda value: value)(1)\nmake()()", { allowedFunctions: ["make"] });
    expect(found).toHaveLength(2);
    expect(found[0]).toMatch(/^line 1: calling the result of an expression is not allowed/);
    expect(found[1]).toMatch(/^line 2: calling the result of an expression/);
    await expectClean("make()()", {});
  });

  it("always flags calls through a subscript", async () => {
    expect(await messages("funcs = [print]\nfuncs[0]('hi')", {})).toEqual([
      "line 2: calling a function taken from a subscript (such as funcs[0]()) is not allowed, " +
        "because the function cannot be checked; call it by name",
    ]);
    expect(await messages("handlers['x']()", {})).toHaveLength(1);
  });

  it("accepts method calls on a subscript, which name their function", async () => {
    await expectClean("df['a'].mean()\nrows[0].strip()", {});
  });

  it("checks calls inside functions, lambdas, comprehensions, decorators and f-strings", async () => {
    const policy = { blockedFunctions: ["open"] };
    const code = [
      "def f():",
      "    return open('a')",
      "g = lambda: open('b')",
      "h = [open(n) for n in names]",
      "@open",
      "def k(): pass",
      "s = f\"{open('c')}\"",
      "def m(x=open('d')): pass",
    ].join("\n");
    const found = await verifyCode(code, policy);
    expect(found.map((problem) => problem.line)).toEqual([2, 3, 4, 5, 7, 8]);
  });

  it("does not check function names without a function list", async () => {
    await expectClean("open('x')\nos_system('ls')", {});
  });

  it("checks a method called eval by the blocked list, but does not flag it as check-evading", async () => {
    await expectClean("df.eval('a + b')", {});
    expect(await messages("df.eval('a + b')", { blockedFunctions: ["eval"] })).toEqual([
      'line 1: call of function "eval" is not allowed (blocked: eval)',
    ]);
    await expectClean("import re\npattern = re.compile('a+')", { allowedModules: ["re"] });
  });
});

describe("verifyCode: names that reach around the checks", () => {
  const policy: VerificationPolicy = {};

  it.each([
    ["getattr(obj, 'x')", "getattr"],
    ["setattr(obj, 'x', 1)", "setattr"],
    ["delattr(obj, 'x')", "delattr"],
    ["print(vars(obj))", "vars"],
    ["g = globals()", "globals"],
    ["l = locals()", "locals"],
    ["m = __import__('os')", "__import__"],
    ["get_ipython().system('ls')", "get_ipython"],
    ["fetch = getattr", "getattr"],
  ])("always flags %s", async (code, name) => {
    const found = await messages(code, policy);
    expect(found).toEqual([`line 1: "${name}" is not allowed: it can reach around the code checks`]);
  });

  it("flags them even when the policy allows them explicitly", async () => {
    const found = await messages("getattr(x, 'y')", { allowedFunctions: ["getattr"] });
    expect(found).toEqual(['line 1: "getattr" is not allowed: it can reach around the code checks']);
  });

  it("reports a blocked check-evading call once, not once per rule", async () => {
    expect(await messages("getattr(x, 'y')", { blockedFunctions: ["getattr"] })).toHaveLength(1);
    expect(await messages("eval('1')", { blockedFunctions: ["eval"] })).toHaveLength(1);
  });

  it("leaves eval, exec and compile to the function list: without one they are allowed", async () => {
    await expectClean("eval('1 + 1')\nexec('x = 1')\ncode = compile('1', 'f', 'eval')\nrun = exec", {});
    await expectClean("from builtins_like import exec as run", { blockedFunctions: [] });
  });

  it("blocks eval, exec and compile by name when the function list names them", async () => {
    expect(await messages("eval('1 + 1')\nrun = exec\ncompile('1', 'f', 'eval')", DATA_POLICY)).toEqual([
      'line 1: call of function "eval" is not allowed (blocked: eval, exec, open, input, compile)',
      'line 2: use of function "exec" is not allowed (blocked: eval, exec, open, input, compile)',
      'line 3: call of function "compile" is not allowed (blocked: eval, exec, open, input, compile)',
    ]);
    expect(await messages("from m import exec as run", { blockedFunctions: ["exec"] })).toEqual([
      'line 1: importing function "exec" is not allowed (blocked: exec)',
    ]);
  });

  it("keeps the reach-around checks with an empty function list", async () => {
    const found = await messages("g = globals()\nx.__class__\nsetattr(o, 'a', 1)", { blockedFunctions: [] });
    expect(found).toEqual([
      'line 1: "globals" is not allowed: it can reach around the code checks',
      'line 2: access to the special attribute "__class__" is not allowed',
      'line 3: "setattr" is not allowed: it can reach around the code checks',
    ]);
  });

  it.each([
    ["x.__class__", "__class__"],
    ["x.__class__.__bases__", "__class__"],
    ["object.__subclasses__()", "__subclasses__"],
    ["d = obj.__dict__", "__dict__"],
    ["f.__globals__['os']", "__globals__"],
    ["s = f'{a.__class__}'", "__class__"],
  ])("flags the dunder attribute in %s", async (code, name) => {
    const found = await messages(code, policy);
    expect(found[0]).toBe(`line 1: access to the special attribute "${name}" is not allowed`);
  });

  it("flags __builtins__ and other dunder names", async () => {
    expect(await messages("b = __builtins__", policy)).toEqual([
      'line 1: the special name "__builtins__" is not allowed',
    ]);
    expect(await messages("__loader__.load_module('os')", policy)).toEqual([
      'line 1: the special name "__loader__" is not allowed',
    ]);
  });

  it("accepts the harmless dunders of everyday code", async () => {
    await expectClean(
      [
        "import numpy as np",
        "print(np.__version__)",
        "if __name__ == '__main__':",
        "    pass",
        "class Model(Base):",
        "    def __init__(self):",
        "        super().__init__()",
        "    def __repr__(self):",
        "        return type(self).__name__",
      ].join("\n"),
      policy,
    );
  });

  it("flags string subscripts that name a dunder", async () => {
    expect(await messages("x['__class__']", policy)).toEqual([
      'line 1: the subscript "__class__" names a special attribute, which is not allowed',
    ]);
    expect(await messages("x['__cl' 'ass__']", policy)).toHaveLength(1);
    expect(await messages('d["__builtins__"]["eval"]', policy)).toHaveLength(1);
  });

  it("decodes escapes in string subscripts, but not in raw strings", async () => {
    for (const code of [
      'x["\\x5f\\x5fclass\\x5f\\x5f"]',
      'x["\\u005f_dict__"]',
      'x["_\\N{LOW LINE}globals__"]',
      "x['\\137\\137class\\137\\137']",
      'x["__cl" "\\x61ss__"]',
    ]) {
      expect(await messages(code, {}), code).toEqual([expect.stringContaining("names a special attribute")]);
    }
    await expectClean('x[r"\\x5f\\x5fclass\\x5f\\x5f"]\nx["a\\tb"]\nx["\\N{BULLET}"]', {});
  });

  it("accepts a dunder in a plain string literal that is not a subscript", async () => {
    await expectClean('label = "__class__"\nprint("__dict__")\nrows["name"]', policy);
  });

  it("flags attribute access by name through operator.attrgetter and methodcaller", async () => {
    expect(await messages("import operator\nf = operator.attrgetter('__class__')", {})).toEqual([
      'line 2: "attrgetter" is not allowed: it can reach around the code checks',
    ]);
    expect(await messages("m = methodcaller('system', 'ls')", {})).toEqual([
      'line 1: "methodcaller" is not allowed: it can reach around the code checks',
    ]);
  });

  it("flags a format string that reads a special attribute, and accepts ordinary ones", async () => {
    expect(await messages("'{0.__class__.__mro__}'.format(x)", {})).toEqual([
      "line 1: a format string that reads a special attribute (such as {0.__class__}) is not allowed",
    ]);
    expect(await messages("'{x.__dict__}'.format_map(values)", {})).toHaveLength(1);
    await expectClean("'{0.shape} rows, {name}'.format(df, name='a')\n'__init__'.upper()", {});
  });

  it("flags a decorator taken from a subscript", async () => {
    expect(await messages("@registry['x']\ndef f(): pass", {})).toEqual([
      "line 1: a decorator taken from a subscript (such as @funcs[0]) is not allowed, because the function cannot be checked",
    ]);
    await expectClean("@app.route('/')\ndef f(): pass", {});
  });

  it("flags the python 2 exec statement as Python 2, and by the function list", async () => {
    const syntax = 'line 1: invalid Python 3 syntax, exec is a function: use exec(...): exec "import os"';
    expect(await messages('exec "import os"', policy)).toEqual([syntax]);
    expect(await messages('exec "import os"', { blockedFunctions: ["exec"] })).toEqual([
      syntax,
      'line 1: call of function "exec" is not allowed (blocked: exec)',
    ]);
  });

  it("does not flag names that only look like them", async () => {
    await expectClean("my_vars = 1\nglobals_count = 2\nobj.evaluate()\nkwargs = dict(eval_set=1)", policy);
  });

  it("does not flag a keyword argument or parameter named like a dunder-free builtin", async () => {
    await expectClean("model.fit(X, y, locals_only=True)\ndef f(vars_list): return vars_list", policy);
  });
});

describe("verifyCode: variables", () => {
  const policy: VerificationPolicy = {
    allowedVariables: ["df", "result", "i", "row", "total", "fh", "err", "n"],
  };

  it("accepts bindings of allowed names", async () => {
    await expectClean(
      [
        "df = load()",
        "result: int = 0",
        "total += 1",
        "for i, row in enumerate(df): pass",
        "with open_file() as fh: pass",
        "try: pass",
        "except ValueError as err: pass",
        "if (n := 10) > 5: pass",
        "df, (result, *total) = 1, (2, 3)",
      ].join("\n"),
      policy,
    );
  });

  it.each([
    ["x = 1", "x"],
    ["x: int = 1", "x"],
    ["x += 1", "x"],
    ["df, x = 1, 2", "x"],
    ["[df, *x] = items", "x"],
    ["for x in df: pass", "x"],
    ["with ctx() as x: pass", "x"],
    ["with ctx() as (df, x): pass", "x"],
    ["try: pass\nexcept E as x: pass", "x"],
    ["if (x := 3): pass", "x"],
    ["y = [v for v in df]", "y"],
  ])("flags the binding of a name outside the list in %s", async (code, name) => {
    const found = await messages(code, policy);
    expect(found).toEqual([
      expect.stringContaining(`assignment to variable "${name}" is not allowed (allowed variables:`),
    ]);
  });

  it("counts a walrus inside a comprehension as a binding of the enclosing scope", async () => {
    const found = await messages("df = [(x := v) for v in rows]", policy);
    expect(found).toEqual([expect.stringContaining('assignment to variable "x"')]);
  });

  it("flags top-level function and class definitions by name", async () => {
    expect(await messages("def helper(): pass\nclass Thing: pass", policy)).toEqual([
      expect.stringMatching(/^line 1: definition of function "helper" is not allowed/),
      expect.stringMatching(/^line 2: definition of class "Thing" is not allowed/),
    ]);
  });

  it("does not check names local to functions, lambdas, classes and comprehensions", async () => {
    await expectClean(
      [
        "def df(a, b=1, *rest, **options):",
        "    local = a + b",
        "    for k in rest: pass",
        "class result:",
        "    attribute = 1",
        "total = [v for v in range(3)]",
        "n = lambda q: q",
      ].join("\n"),
      policy,
    );
  });

  it("checks a name a function declares global", async () => {
    expect(await messages("def df():\n    global counter\n    counter = 1", policy)).toEqual([
      expect.stringMatching(/^line 3: assignment to variable "counter"/),
    ]);
  });

  it("does not treat attribute or subscript assignments, imports, annotations or _ as new variables", async () => {
    await expectClean(
      "df.col = 1\ndf['a'] = 2\nimport pandas as pd\nrow: int\nfor _ in range(3): pass",
      policy,
    );
  });

  it("flags assigning a dunder name even without a variable list", async () => {
    expect(await messages("__builtins__ = {}", {})).toEqual([
      'line 1: assigning the special name "__builtins__" is not allowed',
    ]);
  });

  it("checks match captures", async () => {
    const code = [
      "match df:",
      "    case [row, *rest]: pass",
      "    case Point(x=0, y=n): pass",
      "    case Color.RED: pass",
    ].join("\n");
    expect(await messages(code, policy)).toEqual([
      expect.stringMatching(/^line 2: assignment to variable "rest"/),
    ]);
  });

  it("does not check variables without a variable list", async () => {
    await expectClean("anything = 1\nfor whatever in x: pass", {});
  });
});

describe("verifyCode: IPython syntax", () => {
  it("accepts package installs", async () => {
    await expectClean(
      [
        "%pip install pandas",
        "!pip install -q scikit-learn",
        '!pip install "numpy>=1.26"',
        "!python -m pip install seaborn",
        "%conda install scipy",
        "import pandas as pd",
        "if missing:",
        "    %pip install tabulate",
        "    print('installed')",
      ].join("\n"),
    );
  });

  it.each([
    ["!ls -la", 'line 1: shell command "!ls -la" is not allowed'],
    ["%run script.py", 'line 1: IPython magic "%run script.py" is not allowed'],
    ["%cd /etc", 'line 1: IPython magic "%cd /etc" is not allowed'],
    ["  !cat /etc/passwd", 'line 1: shell command "!cat /etc/passwd" is not allowed'],
    ["!pip uninstall pandas", 'line 1: shell command "!pip uninstall pandas" is not allowed'],
    ["files = !ls", 'line 1: capturing the output of "!ls" is not allowed'],
  ])("flags %s", async (code, expected) => {
    const found = await messages(code);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(expected);
  });

  it("flags installs that smuggle in shell commands or IPython expansions", async () => {
    for (const code of [
      "!pip install pandas; rm -rf ~",
      "!pip install pandas && curl x",
      "!pip install pandas | sh",
      "!pip install pandas>=2",
      "!pip install $PACKAGE",
      "!pip install {name}",
      "%pip install `whoami`",
    ]) {
      const found = await messages(code);
      expect(found, code).toEqual([
        expect.stringContaining("contains shell operators or IPython expansions"),
      ]);
    }
  });

  it("flags a cell magic and does not parse its body as Python", async () => {
    const problems = await verifyCode("x = 1\n%%bash\nls -la | grep secret\necho done", DATA_POLICY);
    expect(problems).toEqual([
      { line: 2, message: expect.stringContaining('cell magic "%%bash" is not allowed') },
    ]);
  });

  it("keeps line numbers of later problems after a magic line", async () => {
    const problems = await verifyCode("!pip install x\n%pip install y\n\nimport os", DATA_POLICY);
    expect(problems.map((problem) => problem.line)).toEqual([4]);
  });

  it("does not take a modulo, a string line or a continued expression for a magic", async () => {
    await expectClean(
      [
        "total = (a",
        "         % b)",
        'text = """',
        "%run not a magic",
        "!ls not a shell",
        '"""',
        "value = a \\",
        "    % 3",
        "ok = x != y",
        "# !ls in a comment",
      ].join("\n"),
      {},
    );
  });
});

describe("verifyCode: syntax errors", () => {
  it("reports the line of the first syntax error", async () => {
    const problems = await verifyCode("x = 1\nif x\n    y = 2\n", {});
    expect(problems).toEqual([{ line: 2, message: "line 2: invalid Python syntax: if x" }]);
  });

  it("reports a missing token on its line", async () => {
    const problems = await verifyCode("x = 1\ndef f(:\n    pass\n", {});
    expect(problems).toEqual([
      { line: 2, message: 'line 2: invalid Python syntax, ")" is missing: def f(:' },
    ]);
  });

  it("reports an unclosed bracket on the line that opens it", async () => {
    expect(await messages("x = [1, 2\ny = 3\n", {})).toEqual(["line 1: invalid Python syntax: x = [1, 2"]);
  });

  it("handles Windows line endings and a byte order mark", async () => {
    const problems = await verifyCode(
      "\ufeffimport pandas\r\nimport os\r\nif x:\r\n    %pip install a\r\n    y = 1\r\n",
      {
        allowedModules: ["pandas"],
      },
    );
    expect(problems).toEqual([
      { line: 2, message: 'line 2: import of module "os" is not allowed (allowed: pandas)' },
    ]);
  });

  it("counts lines correctly after multi-byte characters", async () => {
    const problems = await verifyCode("label = 'café ☕ 数据 😀'\n# ünïcode\nx.__dict__", {});
    expect(problems).toEqual([
      { line: 3, message: 'line 3: access to the special attribute "__dict__" is not allowed' },
    ]);
  });

  it("reports only the first of several syntax errors", async () => {
    const problems = await verifyCode("a = 1\nb = 2 +\nc = (\n", {});
    expect(problems.filter((problem) => problem.message.includes("syntax"))).toHaveLength(1);
    expect(problems[0]?.line).toBe(2);
  });

  it.each([
    ["def f():\nreturn 1", "line 1: invalid Python syntax, an indented block is expected after: def f():"],
    [
      "if x:\n    # only a comment\ny = 1",
      "line 1: invalid Python syntax, an indented block is expected after: if x:",
    ],
    ["for x in y:\n    a = 1\n      b = 2", "line 3: invalid Python syntax, unexpected indentation: b = 2"],
    ["if x:\n    a = 1\n  b = 2", "line 3: invalid Python syntax, unexpected indentation: b = 2"],
    ["if x:\n    a = 1\n  else:\n    b = 2", "line 3: invalid Python syntax, unexpected indentation: else:"],
    [
      "try:\n    a = 1\n except E:\n    pass",
      "line 3: invalid Python syntax, unexpected indentation: except E:",
    ],
    ["import pandas aspd", "line 1: invalid Python syntax, two statements on one line: import pandas aspd"],
    ["x = {1: 2}    y = 3", "line 1: invalid Python syntax, two statements on one line: x = {1: 2}    y = 3"],
    ["x = 1\nreturn x", 'line 2: invalid Python syntax, "return" outside a function: return x'],
    ["class A:\n    return 1", 'line 2: invalid Python syntax, "return" outside a function: return 1'],
    ["yield 1", 'line 1: invalid Python syntax, "yield" outside a function: yield 1'],
    ["x = 1\nbreak", 'line 2: invalid Python syntax, "break" outside a loop: break'],
    [
      "for i in x:\n    def g():\n        continue",
      'line 3: invalid Python syntax, "continue" outside a loop: continue',
    ],
    ["while x:\n    pass\nelse:\n    break", 'line 4: invalid Python syntax, "break" outside a loop: break'],
  ])("reports what CPython rejects but the grammar lets through: %j", async (code, expected) => {
    expect(await messages(code, {})).toEqual([expected]);
  });

  it("accepts indentation and statements where CPython does", async () => {
    await expectClean(
      [
        "  x = 1  # IPython dedents an indented cell",
        "  for i in range(3):",
        "      if i: continue",
        "      def g():",
        "          return i",
        "      break",
        "  y = 1; z = 2",
        "  while True:",
        "      try:",
        "          break",
        "      finally:",
        "          pass",
      ].join("\n"),
      {},
    );
  });

  it("reports a python 2 print statement", async () => {
    expect(await messages('print "hello"', {})).toEqual([
      'line 1: invalid Python 3 syntax, print is a function: use print(...): print "hello"',
    ]);
  });

  it("accepts modern syntax: match, walrus, f-strings, async, type hints, decorators", async () => {
    await expectClean(
      [
        "from dataclasses import dataclass",
        "@dataclass",
        "class Point:",
        "    x: int",
        "    y: int = 0",
        "async def fetch(url: str) -> dict[str, int]:",
        "    async with session() as s:",
        "        return await s.get(url)",
        "match value:",
        "    case {'k': v}: print(v)",
        "    case _: pass",
        "print(f'{value!r:>10}')",
      ].join("\n"),
      {},
    );
  });

  it("accepts empty code", async () => {
    await expectClean("", DATA_POLICY);
    await expectClean("\n\n# only a comment\n", DATA_POLICY);
  });
});

describe("verifyCode: policy", () => {
  it("rejects an allowed and a blocked list of the same kind", async () => {
    await expect(
      verifyCode("x = 1", { allowedModules: ["a"], blockedModules: ["b"] }),
    ).rejects.toBeInstanceOf(ConfigError);
    await expect(verifyCode("x = 1", { allowedFunctions: [], blockedFunctions: ["b"] })).rejects.toThrow(
      /both allowedFunctions and blockedFunctions/,
    );
  });

  it("accepts an allowed list of one kind with a blocked list of another", async () => {
    await expectClean("import pandas", { allowedModules: ["pandas"], blockedFunctions: ["open"] });
  });

  it("treats an empty allowed list as allowing nothing", async () => {
    expect(await messages("import pandas", { allowedModules: [] })).toEqual([
      'line 1: import of module "pandas" is not allowed (allowed: none)',
    ]);
  });

  it("rejects a policy whose lists are not lists of names", async () => {
    await expect(
      verifyCode("x = 1", { allowedModules: "pandas" } as unknown as VerificationPolicy),
    ).rejects.toThrow(/allowedModules/);
  });

  it("returns problems sorted by line across all kinds of checks", async () => {
    const problems = await verifyCode(
      ["import os", "!ls", "x.__class__", "open('f')", "funcs[0]()"].join("\n"),
      DATA_POLICY,
    );
    expect(problems.map((problem) => problem.line)).toEqual([1, 2, 3, 4, 5]);
  });

  it("can verify many snippets at once with one shared parser", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, index) => verifyCode(`import mod${index}\n`, DATA_POLICY)),
    );
    results.forEach((problems, index) => {
      expect(problems).toEqual([
        expect.objectContaining({ message: expect.stringContaining(`"mod${index}"`) }),
      ]);
    });
  });
});

describe("createCodeVerifier", () => {
  it("describes every rule it enforces for the prompt", () => {
    const verifier = createCodeVerifier({
      allowedModules: ["pandas", "numpy"],
      blockedFunctions: ["open"],
      allowedVariables: ["df"],
    });
    expect(verifier.rules).toContain("import only these modules: pandas, numpy");
    expect(verifier.rules).toContain("do not call or refer to these functions: open");
    expect(verifier.rules).toContain("assign only these global variable names: df");
    expect(verifier.rules).toContain("getattr");
    expect(verifier.rules).toContain("%pip install");
  });

  it("verifies code against its policy", async () => {
    const verifier = createCodeVerifier({ blockedModules: ["os"] });
    expect(verifier.rules).toContain("do not import these modules: os");
    expect(await verifier.verify("import os")).toEqual([
      { line: 1, message: 'line 1: import of module "os" is not allowed (blocked: os)' },
    ]);
    expect(await verifier.verify("import json")).toEqual([]);
  });

  it("rejects a malformed policy when created", () => {
    expect(() => createCodeVerifier({ allowedModules: ["a"], blockedModules: ["b"] })).toThrow(ConfigError);
  });
});

describe("verifyCode: speed", () => {
  it("checks a 50-line cell in well under a second once the parser is loaded", async () => {
    const code = Array.from({ length: 50 }, (_, index) =>
      index % 2 === 0
        ? `value_${index} = df.groupby("key")["value"].agg(["mean", "std"]).reset_index()`
        : `print(f"{value_${index - 1}.shape} rows", np.sqrt(value_${index - 1}["std"]).max())`,
    ).join("\n");
    await verifyCode(code, DATA_POLICY);
    const durations: number[] = [];
    for (let run = 0; run < 7; run += 1) {
      const started = performance.now();
      expect(await verifyCode(code, DATA_POLICY)).toEqual([]);
      durations.push(performance.now() - started);
    }
    durations.sort((left, right) => left - right);
    // About 4 ms of CPU on a quiet machine; the bound is loose because test machines are shared.
    expect(durations[3]).toBeLessThan(1000);
  });
});
