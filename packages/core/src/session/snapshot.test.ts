import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import type { KernelSnapshot } from "../executor/contract.js";
import {
  decodeSnapshotFile,
  describeRestore,
  encodeSnapshotFile,
  readSnapshotFile,
  writeFileAtomically,
} from "./snapshot.js";

const snapshot: KernelSnapshot = {
  payload: new Uint8Array([1, 2, 3, 10, 4]),
  serializer: "dill",
  saved: [{ name: "df", type: "DataFrame" }],
  modules: [{ name: "pd", module: "pandas" }],
  lost: [{ name: "handle", reason: "an open file" }],
};

const directories: string[] = [];
afterEach(async () => {
  for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true });
});

describe("snapshot files", () => {
  test("round-trip their payload and header, with the format version on the first line", () => {
    const file = encodeSnapshotFile(snapshot, "2026-12-02T00:00:00.000Z");
    expect(Buffer.from(file).toString("utf8").split("\n")[0]).toBe("TASKWEAVER-KERNEL-SNAPSHOT 1");
    const decoded = decodeSnapshotFile(file);
    expect([...decoded.payload]).toEqual([1, 2, 3, 10, 4]);
    expect(decoded.header).toMatchObject({
      format_version: 1,
      serializer: "dill",
      saved: snapshot.saved,
      lost: snapshot.lost,
    });
  });

  test("refuse a flipped byte, a cut-off file, another version and a stranger", () => {
    const file = Buffer.from(encodeSnapshotFile(snapshot, "2026-12-02T00:00:00.000Z"));
    const flipped = Buffer.from(file);
    flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 0xff;
    expect(() => decodeSnapshotFile(flipped)).toThrow("checksum");
    expect(() => decodeSnapshotFile(file.subarray(0, file.length - 2))).toThrow("the payload has 3 bytes");
    expect(() =>
      decodeSnapshotFile(Buffer.from(file.toString("latin1").replace("SNAPSHOT 1", "SNAPSHOT 9"), "latin1")),
    ).toThrow("format version 9");
    expect(() => decodeSnapshotFile(Buffer.from("hello"))).toThrow("not a TaskWeaver kernel snapshot");
  });

  test("are written atomically, leaving no temporary file, and read back (none: undefined)", async () => {
    const directory = await mkdtemp(join(tmpdir(), "tw-snapshot-file-"));
    directories.push(directory);
    const path = join(directory, "session", "kernel-snapshot.bin");
    expect(await readSnapshotFile(path)).toBeUndefined();
    await writeFileAtomically(path, encodeSnapshotFile(snapshot, "2026-12-02T00:00:00.000Z"));
    await writeFileAtomically(path, encodeSnapshotFile(snapshot, "2026-12-02T00:00:01.000Z"));
    expect(await readdir(join(directory, "session"))).toEqual(["kernel-snapshot.bin"]);
    const read = await readSnapshotFile(path);
    expect(read && "file" in read && read.file.header.created_at).toBe("2026-12-02T00:00:01.000Z");
  });
});

describe("the restore note", () => {
  test("names what came back, the aliases, and what did not with why", () => {
    const note = describeRestore(
      {
        restored: [
          { name: "df", type: "DataFrame" },
          { name: "f", type: "function" },
        ],
        modules: [
          { name: "pd", module: "pandas" },
          { name: "os", module: "os" },
        ],
        lost: [{ name: "gen", reason: "cannot be pickled (generator)" }],
      },
      "2026-12-02T00:00:00.000Z",
    );
    expect(note).toBe(
      "[Note: the kernel was stopped and its saved state (saved 2026-12-02T00:00:00.000Z) restored into the new kernel; " +
        "variables restored: df, f; modules imported again: pandas as pd, os. " +
        "Not restored, recreate before use: gen (cannot be pickled (generator)). Anything else from earlier rounds is gone.]",
    );
  });

  test("says a snapshot that could not be used was skipped and the kernel is clean", () => {
    expect(
      describeRestore(
        { restored: [], modules: [], lost: [], error: "the payload's checksum does not match" },
        undefined,
      ),
    ).toMatch(/could not be restored: the payload's checksum does not match\. The kernel started clean/);
  });
});
