import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, test } from "vitest";
import type { SessionRecord } from "./session-store.js";
import { createSqliteSessionStore } from "./sqlite-session-store.js";
import { StoreUnavailableError } from "./store-errors.js";

const directory = mkdtempSync(join(tmpdir(), "tw-sqlite-faults-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function record(id: string): SessionRecord {
  return {
    id,
    ownerKeyHash: null,
    createdAt: "2025-01-01T00:00:00.000Z",
    roles: ["code_interpreter"],
    workingDirectory: `/work/${id}`,
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe("SQLite session store faults", () => {
  test(
    "a lock held by another process is a store_unavailable error naming the file, and the store works once it is released",
    { timeout: 30_000 },
    async () => {
      const path = join(directory, "locked.sqlite");
      const store = createSqliteSessionStore({ path });
      await store.createSession(record("before"));
      const other = new Database(path);
      other.exec("BEGIN EXCLUSIVE");
      try {
        const error = await rejection(store.createSession(record("while-locked")));
        expect(StoreUnavailableError.isInstance(error), String(error)).toBe(true);
        expect((error as StoreUnavailableError).code).toBe("store_unavailable");
        expect((error as Error).message).toContain(path);
        expect((error as Error).message).toMatch(/another process holds a lock/);
      } finally {
        other.exec("ROLLBACK");
        other.close();
      }
      await store.createSession(record("after"));
      expect((await store.listSessions()).map((session) => session.id).sort()).toEqual(["after", "before"]);
      await store.close();
    },
  );

  // A real full disk: a 1 MiB tmpfs, which needs root to mount.
  const canMount = process.getuid?.() === 0;
  test.skipIf(!canMount)(
    "a full disk is a store_unavailable error saying so; committed rows stay and writes work once space is freed",
    { timeout: 30_000 },
    async () => {
      const mount = mkdtempSync(join(tmpdir(), "tw-sqlite-full-"));
      expect(spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mount]).status).toBe(0);
      try {
        const path = join(mount, "full.sqlite");
        const store = createSqliteSessionStore({ path });
        await store.createSession(record("kept"));
        await store.startRound("kept", { id: "round-1", userQuery: "before the disk filled" });
        spawnSync("dd", ["if=/dev/zero", `of=${join(mount, "filler")}`, "bs=4k", "status=none"]);
        let error: unknown;
        // The WAL may still have room for a few pages: write until the disk refuses.
        for (let index = 0; index < 200 && error === undefined; index += 1)
          error = await rejection(
            store.startRound("kept", { id: `r-${index}`, userQuery: "x".repeat(20_000) }),
          );
        expect(StoreUnavailableError.isInstance(error), String(error)).toBe(true);
        expect((error as Error).message).toMatch(/disk under it is full/);
        rmSync(join(mount, "filler"));
        await store.startRound("kept", { id: "round-after", userQuery: "after freeing" });
        const rounds = (await store.listRounds("kept")).map((round) => round.id);
        expect(rounds).toContain("round-1");
        expect(rounds).toContain("round-after");
        await store.close();
        const check = new Database(path, { readonly: true });
        expect(check.pragma("integrity_check", { simple: true })).toBe("ok");
        check.close();
      } finally {
        spawnSync("umount", [mount]);
        rmSync(mount, { recursive: true, force: true });
      }
    },
  );
});
