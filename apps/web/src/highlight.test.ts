import { describe, expect, it } from "vitest";
import { highlightPython } from "./highlight.js";

const kinds = (code: string) =>
  highlightPython(code)
    .filter((token) => token.kind !== "plain")
    .map((token) => [token.kind, token.text]);

describe("highlightPython", () => {
  it("gives the code back when its tokens are joined", () => {
    const code =
      "import random\n@cache\ndef pick(n=10):\n    # ten of them\n    return [random.randint(1, 100) for _ in range(n)]  # done\n";
    expect(
      highlightPython(code)
        .map((token) => token.text)
        .join(""),
    ).toBe(code);
  });

  it("marks keywords, builtins, names being defined, decorators, numbers, strings and comments", () => {
    expect(kinds("@cache\ndef pick(n=10):\n    print(f'{n}')  # go")).toEqual([
      ["decorator", "@cache"],
      ["keyword", "def"],
      ["definition", "pick"],
      ["number", "10"],
      ["builtin", "print"],
      ["string", "f'{n}'"],
      ["comment", "# go"],
    ]);
  });

  it("does not read keywords inside strings, and lets an unclosed string run to the end while it streams", () => {
    expect(kinds('x = "for if while"')).toEqual([["string", '"for if while"']]);
    expect(kinds('text = """still\nstreaming for')).toEqual([["string", '"""still\nstreaming for']]);
  });
});
