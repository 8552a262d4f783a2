import { expect, test } from "vitest";
import { stripAnsi } from "./ansi.js";

test("stripAnsi removes colour codes and hyperlinks but keeps the text", () => {
  const coloured = "\u001b[0;31mValueError\u001b[0m: boom \u001b]8;;file:///x\u0007link\u001b]8;;\u0007";
  expect(stripAnsi(coloured)).toBe("ValueError: boom link");
  expect(stripAnsi("plain")).toBe("plain");
});
