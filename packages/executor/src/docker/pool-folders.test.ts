import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { createPoolFolder, discardPoolFolder, moveFolder, removeStalePoolFolders } from "./pool-folders.js";

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

async function root(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), "tw-pool-folders-"));
  roots.push(directory);
  return directory;
}

describe("pool folders of the Docker warm pool", () => {
  test("a pooled folder becomes a session's folder that does not exist yet (parents created)", async () => {
    const base = await root();
    const folder = await createPoolFolder(join(base, ".warm-pool"));
    expect(folder.startsWith(join(base, ".warm-pool", `${process.pid}-`))).toBe(true);
    await writeFile(join(folder, "kernel-wrote.txt"), "k");
    const target = join(base, "sessions", "s1", "cwd");
    await moveFolder(folder, target);
    expect(await readdir(target)).toEqual(["kernel-wrote.txt"]);
    expect(await readdir(join(base, ".warm-pool"))).toEqual([]);
  });

  test("files already in the session's folder move into the pooled folder, which takes its place", async () => {
    const base = await root();
    const folder = await createPoolFolder(join(base, ".warm-pool"));
    const target = join(base, "cwd");
    await mkdir(join(target, "data"), { recursive: true });
    await writeFile(join(target, "data", "input.csv"), "a,b\n1,2\n");
    await writeFile(join(target, "notes.txt"), "n");
    await moveFolder(folder, target);
    expect((await readdir(target)).sort()).toEqual(["data", "notes.txt"]);
    expect(await readFile(join(target, "data", "input.csv"), "utf8")).toBe("a,b\n1,2\n");
    expect(await readdir(join(base, ".warm-pool"))).toEqual([]);
  });

  test("a move that fails half way puts the session's files back and rethrows", async () => {
    const base = await root();
    const folder = await createPoolFolder(join(base, ".warm-pool"));
    const target = join(base, "cwd");
    await mkdir(target);
    await writeFile(join(target, "a-first.txt"), "1");
    // The same name as a non-empty folder in the pooled folder: that rename fails.
    await mkdir(join(target, "b-clash"));
    await writeFile(join(target, "b-clash", "inside.txt"), "2");
    await mkdir(join(folder, "b-clash"));
    await writeFile(join(folder, "b-clash", "other.txt"), "3");
    await expect(moveFolder(folder, target)).rejects.toMatchObject({ code: expect.stringMatching(/ENOTEMPTY|EEXIST/) });
    expect((await readdir(target)).sort()).toEqual(["a-first.txt", "b-clash"]);
    expect(await readFile(join(target, "b-clash", "inside.txt"), "utf8")).toBe("2");
    // Not pristine after a failed move: only an empty folder would be removed, this one stays.
    await discardPoolFolder(folder, false);
    expect(await readdir(folder)).toEqual(["b-clash"]);
  });

  test("stale folders of dead processes are removed; this process's folders stay", async () => {
    const base = await root();
    const pool = join(base, ".warm-pool");
    const mine = await createPoolFolder(pool);
    // A pid that is certainly gone: a child that has exited and been reaped.
    const gone = spawnSync(process.execPath, ["-e", ""]).pid!;
    await mkdir(join(pool, `${gone}-abc123`));
    await writeFile(join(pool, `${gone}-abc123`, "left.txt"), "x");
    await mkdir(join(pool, "not-ours"));
    expect(await removeStalePoolFolders(pool)).toBe(1);
    expect((await readdir(pool)).sort()).toEqual([mine.slice(pool.length + 1), "not-ours"].sort());
    expect(await removeStalePoolFolders(join(base, "missing"))).toBe(0);
  });
});
