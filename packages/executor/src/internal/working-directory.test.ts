import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TaskWeaverError } from "@taskweaver/core";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { createWorkingDirectoryFiles, resolveInsideWorkingDirectory } from "./working-directory.js";

let root: string;
let outside: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "tw-files-"));
  outside = await mkdtemp(join(tmpdir(), "tw-outside-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  return TaskWeaverError.isInstance(error) ? error.code : `not a TaskWeaverError: ${String(error)}`;
}

describe("working directory files", () => {
  test("uploads into subfolders and lists files recursively with relative names", async () => {
    const files = createWorkingDirectoryFiles(root);
    await files.upload("a/b/c.txt", new TextEncoder().encode("abc"));
    await files.upload("top.txt", new Uint8Array([1, 2]));
    expect((await files.list()).map((file) => [file.name, file.size])).toEqual([
      ["a/b/c.txt", 3],
      ["top.txt", 2],
    ]);
    expect(Buffer.from(await files.download("a/b/c.txt")).toString()).toBe("abc");
  });

  test("refuses absolute paths, .. escapes and links leading out", async () => {
    await writeFile(join(outside, "secret.txt"), "secret");
    await symlink(outside, join(root, "out-dir"));
    await symlink(join(outside, "secret.txt"), join(root, "out-file"));
    await symlink(join(outside, "not-yet"), join(root, "dangling"));
    const files = createWorkingDirectoryFiles(root);
    for (const name of [
      "../x",
      "a/../../x",
      "/etc/passwd",
      "out-dir/secret.txt",
      "out-file",
      "dangling",
      "",
      ".",
    ]) {
      expect(await codeOf(files.download(name)), name).toBe("path_outside_workdir");
      expect(await codeOf(files.upload(name, new Uint8Array([1]))), name).toBe("path_outside_workdir");
    }
    expect((await files.list()).map((file) => file.name)).toEqual([]);
  });

  test("allows names with dots that stay inside", async () => {
    await mkdir(join(root, "d"));
    expect(await resolveInsideWorkingDirectory(root, "d/../x..y")).toBe(join(root, "x..y"));
  });

  test("reports a missing file or a folder as file_not_found", async () => {
    const files = createWorkingDirectoryFiles(root);
    await mkdir(join(root, "folder"));
    expect(await codeOf(files.download("nothing.txt"))).toBe("file_not_found");
    expect(await codeOf(files.download("folder"))).toBe("file_not_found");
  });
});
