import { describe, expect, it } from "vitest";
import { tokenizePython } from "./python-highlight.js";

const kinds = (code: string) =>
  tokenizePython(code)
    .filter((token) => token.kind !== "plain")
    .map((token) => [token.kind, token.text]);

describe("tokenizePython", () => {
  it("gives back the code exactly when the tokens are joined", () => {
    const code =
      'import pandas as pd\n@decorator\ndef f(x=1.5e3):\n    return f\'{x}\' + """a\n\'b\'"""  # done\n';
    expect(
      tokenizePython(code)
        .map((token) => token.text)
        .join(""),
    ).toBe(code);
  });

  it("colours keywords, builtins, numbers, strings, comments, decorators and definitions", () => {
    expect(kinds("@cache\ndef area(r):\n    return 3.14 * r ** 2  # circle\nprint('x')")).toEqual([
      ["decorator", "@cache"],
      ["keyword", "def"],
      ["function", "area"],
      ["keyword", "return"],
      ["number", "3.14"],
      ["number", "2"],
      ["comment", "# circle"],
      ["builtin", "print"],
      ["string", "'x'"],
    ]);
  });

  it("treats string prefixes and triple quotes as part of the string", () => {
    expect(kinds('x = rb"\\d+"\ny = """multi\nline"""')).toEqual([
      ["string", 'rb"\\d+"'],
      ["string", '"""multi\nline"""'],
    ]);
  });

  it("does not take digits inside names for numbers", () => {
    expect(kinds("df2 = x1")).toEqual([]);
  });

  it("tolerates code cut off inside a string", () => {
    expect(kinds("s = 'unfinished")).toEqual([["string", "'unfinished"]]);
    expect(kinds('s = """still going\nmore')).toEqual([["string", '"""still going\nmore']]);
  });
});
