import { execFileSync } from "node:child_process";
import { link, mkdir, mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import {
  createWorkdirWatcher,
  describeWorkdirLimit,
  formatBytes,
  measureDirectories,
} from "./workdir-limit.js";

let directory: string;
beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), "tw-measure-"));
});
afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe("measureDirectories", () => {
  test("counts allocated bytes once per inode and a sparse file by what it takes", async () => {
    await writeFile(join(directory, "data.bin"), Buffer.alloc(1024 * 1024, 1));
    await link(join(directory, "data.bin"), join(directory, "same.bin"));
    const sparse = await open(join(directory, "sparse.bin"), "w");
    await sparse.truncate(1024 ** 3);
    await sparse.close();
    const usage = await measureDirectories([directory, directory]);
    expect(usage.partial).toBe(false);
    expect(usage.bytes).toBeGreaterThanOrEqual(1024 * 1024);
    expect(usage.bytes).toBeLessThan(2 * 1024 * 1024);
  });

  test("stops at maxEntries and says the figure is a lower bound; a missing directory is zero", async () => {
    for (let index = 0; index < 20; index += 1) await writeFile(join(directory, `f${index}`), "x");
    expect((await measureDirectories([directory], { maxEntries: 5 })).partial).toBe(true);
    expect((await measureDirectories([join(directory, "missing")])).bytes).toBe(0);
  });

  // A sandbox's private /tmp holds bind mounts (the app directory, the connection files): they
  // are not its scratch space. Mounting needs root, which CI has: there, not being root fails.
  test.skipIf(process.getuid?.() !== 0 && process.env.CI !== "true")("stays on each directory's own file system, as du -x does", async () => {
    await writeFile(join(directory, "own.bin"), Buffer.alloc(256 * 1024, 1));
    const inner = join(directory, "mounted");
    await mkdir(inner);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", inner]);
    try {
      await writeFile(join(inner, "elsewhere.bin"), Buffer.alloc(4 * 1024 * 1024, 1));
      const usage = await measureDirectories([directory]);
      expect(usage.bytes).toBeGreaterThanOrEqual(256 * 1024);
      expect(usage.bytes).toBeLessThan(1024 * 1024);
      // Measured as a directory of its own, the mount counts in full.
      expect((await measureDirectories([inner])).bytes).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    } finally {
      execFileSync("umount", [inner]);
    }
  });
});

describe("createWorkdirWatcher", () => {
  test("trips once on growth past the limit and not on a directory that was already over it", async () => {
    await writeFile(join(directory, "old.bin"), Buffer.alloc(64 * 1024, 1));
    const tripped: number[] = [];
    const quiet = createWorkdirWatcher({
      directories: [directory],
      limitBytes: 1024,
      baselineBytes: undefined,
      onExceeded: (bytes) => tripped.push(bytes),
      minIntervalMs: 10,
    });
    await quiet.firstBytes;
    await new Promise((resolve) => setTimeout(resolve, 50));
    await quiet.stop();
    expect(tripped).toEqual([]);

    const watcher = createWorkdirWatcher({
      directories: [directory],
      limitBytes: 1024,
      baselineBytes: await quiet.stop(),
      onExceeded: (bytes) => tripped.push(bytes),
      minIntervalMs: 10,
    });
    await writeFile(join(directory, "new.bin"), Buffer.alloc(64 * 1024, 2));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await watcher.stop();
    expect(watcher.exceeded).toBe(true);
    expect(tripped).toHaveLength(1);
  });
});

test("the message names the limit and the setting that raises it", () => {
  expect(formatBytes(2 * 1024 ** 3)).toBe("2 GiB");
  expect(formatBytes(1536)).toBe("1.5 KiB");
  expect(describeWorkdirLimit(16 * 1024 * 1024, 20 * 1024 * 1024)).toMatch(
    /size limit of 16 MiB \(it holds 20 MiB\).*execution_service\.max_workdir_bytes/,
  );
});
