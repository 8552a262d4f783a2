import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { KernelSnapshot, SnapshotRestoreResult } from "@taskweaver/core";
import { z } from "zod";
import { pythonString } from "./internal/support-code.js";
import type { WorkingDirectoryFiles } from "./internal/working-directory.js";
import { pythonFilePath } from "./python-files.js";

/** Where the Python snapshot code lives: `python/` next to `src/` and `dist/` in the package. */
export const SNAPSHOT_CODE_PATH = pythonFilePath("taskweaver_snapshot.py");

let snapshotSource: Promise<string> | undefined;

function readSnapshotSource(): Promise<string> {
  snapshotSource ??= readFile(SNAPSHOT_CODE_PATH, "utf8");
  snapshotSource.catch(() => (snapshotSource = undefined));
  return snapshotSource;
}

/** Runs support code in the kernel silently; rejects (with the Python error) when it raises. */
export type RunSupportCode = (code: string, what: string) => Promise<void>;

const lossSchema = z.object({ name: z.string(), reason: z.string() });
const moduleSchema = z.object({ name: z.string(), module: z.string() });
const valueSchema = z.object({ name: z.string(), type: z.string() });

const saveReportSchema = z.object({
  serializer: z.enum(["dill", "pickle"]),
  modules: z.array(moduleSchema),
  saved: z.array(valueSchema),
  lost: z.array(lossSchema),
});

const restoreReportSchema = z.object({
  restored: z.array(valueSchema),
  modules: z.array(moduleSchema),
  lost: z.array(lossSchema),
  error: z.string().nullable(),
});

/**
 * Calls a function of the snapshot module, creating the in-memory module `_taskweaver_snapshot`
 * from its source the first time, without leaving a name in the user's namespace.
 */
function callCode(source: string, call: string): string {
  return (
    `(lambda __source: (__import__("sys").modules.get("_taskweaver_snapshot") or (lambda __module: (` +
    `exec(compile(__source, "taskweaver_snapshot.py", "exec"), __module.__dict__), ` +
    `__import__("sys").modules.__setitem__("_taskweaver_snapshot", __module), __module)[-1])` +
    `(__import__("types").ModuleType("_taskweaver_snapshot"))).${call})(${pythonString(source)})`
  );
}

/**
 * A file name in the working directory for one transfer: the kernel and the host both reach it
 * (the host through the executor's file access, which is the remote file API for remote
 * kernels), so the same bytes move for every runtime. It exists only while a save or restore
 * runs.
 */
function transferName(): string {
  // Not a dot file: Jupyter's file API refuses hidden files.
  return `taskweaver-snapshot-${randomBytes(6).toString("hex")}.tmp`;
}

/**
 * Takes a snapshot of the kernel's namespace: the kernel writes it and a report into the working
 * directory, the host reads both and has the kernel remove them.
 */
export async function saveKernelSnapshot(
  run: RunSupportCode,
  files: WorkingDirectoryFiles,
  maxBytes: number,
): Promise<KernelSnapshot> {
  const source = await readSnapshotSource();
  const name = transferName();
  try {
    await run(
      callCode(source, `save(${pythonString(name)}, ${Math.max(0, Math.floor(maxBytes))})`),
      "Saving the kernel's state",
    );
    const report = saveReportSchema.parse(
      JSON.parse(Buffer.from(await files.download(`${name}.json`)).toString("utf8")),
    );
    const payload = await files.download(name);
    return {
      payload,
      serializer: report.serializer,
      saved: report.saved,
      modules: report.modules,
      lost: report.lost,
    };
  } finally {
    await run(callCode(source, `discard(${pythonString(name)})`), "Removing the snapshot's files").catch(
      () => undefined,
    );
  }
}

/** Hands a snapshot's payload to the kernel, which restores it and reports what came back. */
export async function restoreKernelSnapshot(
  run: RunSupportCode,
  files: WorkingDirectoryFiles,
  payload: Uint8Array,
): Promise<SnapshotRestoreResult> {
  const source = await readSnapshotSource();
  const name = transferName();
  try {
    await files.upload(name, payload);
    await run(callCode(source, `restore(${pythonString(name)})`), "Restoring the kernel's state");
    const report = restoreReportSchema.parse(
      JSON.parse(Buffer.from(await files.download(`${name}.json`)).toString("utf8")),
    );
    const { error, ...rest } = report;
    return error === null ? rest : { ...rest, error };
  } finally {
    await run(callCode(source, `discard(${pythonString(name)})`), "Removing the snapshot's files").catch(
      () => undefined,
    );
  }
}
