import { describe, expect, it } from "vitest";
import { TaskWeaverError } from "@taskweaver/core";
import { helpText, parseCommand, saveState, unquote } from "./commands.js";

describe("parseCommand", () => {
  it("reads commands with their argument and maps aliases to one name", () => {
    expect(parseCommand("/load data.csv")).toEqual({ name: "load", argument: "data.csv", known: true });
    expect(parseCommand("/file  a b.csv ")).toEqual({ name: "load", argument: "a b.csv", known: true });
    expect(parseCommand("/QUIT")).toEqual({ name: "exit", argument: "", known: true });
    expect(parseCommand("/bye")).toMatchObject({ name: "exit", known: true });
    expect(parseCommand("/save-state")).toEqual({ name: "save-state", argument: "", known: true });
  });

  it("marks unknown commands and leaves messages alone", () => {
    expect(parseCommand("/frobnicate")).toEqual({ name: "frobnicate", argument: "", known: false });
    expect(parseCommand("count the rows")).toBeUndefined();
    expect(parseCommand("/tmp/data.csv has how many rows?")).toBeUndefined();
  });

  it("lists every command in the help", () => {
    for (const name of [
      "/load",
      "/reset",
      "/save",
      "/save-state",
      "/info",
      "/clear",
      "/help",
      "/exit",
      "/expand",
    ]) {
      expect(helpText()).toContain(name);
    }
  });

  it("unquotes file names", () => {
    expect(unquote('"my data.csv"')).toBe("my data.csv");
    expect(unquote("plain.csv")).toBe("plain.csv");
  });
});

describe("/save-state", () => {
  const summary = {
    saved: true,
    path: "/app/workspace/sessions/s1/kernel-snapshot.bin",
    bytes: 2048,
    createdAt: "2026-12-02T00:00:00.000Z",
    serializer: "dill" as const,
    values: [{ name: "df", type: "DataFrame" }],
    modules: [{ name: "pd", module: "pandas" }],
    lost: [{ name: "gen", reason: "cannot be pickled (generator)" }],
  };

  it("saves, stops the kernel, and names what was kept and what was not", async () => {
    const calls: string[] = [];
    const notice = await saveState({
      id: "s1",
      saveSnapshot: async () => (calls.push("save"), summary),
      stopKernel: async () => void calls.push("stop"),
    });
    expect(calls).toEqual(["save", "stop"]);
    expect(notice.tone).toBe("warning");
    expect(notice.text).toBe(
      "Saved the kernel's state (df, pandas as pd; 2.0 KiB) to /app/workspace/sessions/s1/kernel-snapshot.bin.\n" +
        "The kernel is stopped; your next message starts one that restores it.\n" +
        "Not saved: gen (cannot be pickled (generator)).",
    );
  });

  it("keeps the kernel running when the save fails, and says so", async () => {
    let stopped = false;
    const notice = await saveState({
      id: "s1",
      saveSnapshot: () =>
        Promise.reject(new TaskWeaverError("snapshot_failed", "Saving the kernel's state failed: disk full")),
      stopKernel: async () => void (stopped = true),
    });
    expect(stopped).toBe(false);
    expect(notice).toEqual({
      text: "Could not save the kernel's state (the kernel keeps running): Saving the kernel's state failed: disk full",
      tone: "error",
    });
  });

  it("says when there is no kernel, and when the session cannot take snapshots", async () => {
    expect(
      await saveState({
        id: "s1",
        saveSnapshot: async () => ({ ...summary, saved: false }),
        stopKernel: async () => {},
      }),
    ).toEqual({
      text: "No kernel is running: there is no state to save.",
      tone: "info",
    });
    expect((await saveState({ id: "s1" })).tone).toBe("warning");
  });
});
