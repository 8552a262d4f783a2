import { describe, expect, it } from "vitest";
import { helpText, parseCommand, unquote } from "./commands.js";

describe("parseCommand", () => {
  it("reads commands with their argument and maps aliases to one name", () => {
    expect(parseCommand("/load data.csv")).toEqual({ name: "load", argument: "data.csv", known: true });
    expect(parseCommand("/file  a b.csv ")).toEqual({ name: "load", argument: "a b.csv", known: true });
    expect(parseCommand("/QUIT")).toEqual({ name: "exit", argument: "", known: true });
    expect(parseCommand("/bye")).toMatchObject({ name: "exit", known: true });
  });

  it("marks unknown commands and leaves messages alone", () => {
    expect(parseCommand("/frobnicate")).toEqual({ name: "frobnicate", argument: "", known: false });
    expect(parseCommand("count the rows")).toBeUndefined();
    expect(parseCommand("/tmp/data.csv has how many rows?")).toBeUndefined();
  });

  it("lists every command in the help", () => {
    for (const name of ["/load", "/reset", "/save", "/info", "/clear", "/help", "/exit", "/expand"]) {
      expect(helpText()).toContain(name);
    }
  });

  it("unquotes file names", () => {
    expect(unquote('"my data.csv"')).toBe("my data.csv");
    expect(unquote("plain.csv")).toBe("plain.csv");
  });
});
