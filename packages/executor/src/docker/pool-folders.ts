import { mkdir, mkdtemp, readdir, rename, rm, rmdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { isProcessAlive } from "./container-cleanup.js";

/**
 * Host folders of containers started ahead (the warm pool). A pooled container mounts a fresh
 * folder of its own; when a session takes the container, that folder is renamed to the
 * session's working directory. A bind mount follows the folder, not its name, so the kernel
 * keeps seeing it at the same container path. Renaming needs both on one file system, which is
 * why the pool folders live next to the sessions' folders.
 */

/** Creates a fresh pool folder under `root`, named after this process so stale ones can be found. */
export async function createPoolFolder(root: string): Promise<string> {
  await mkdir(root, { recursive: true });
  return mkdtemp(join(root, `${process.pid}-`));
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Makes `source` the folder at `target`. When `target` already has files (uploaded before the
 * kernel started), they are moved into `source` first. On failure everything moved is put back,
 * so the session's files stay at `target`, and the error is rethrown.
 */
export async function moveFolder(source: string, target: string): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  try {
    // Succeeds when `target` is missing or an empty folder.
    await rename(source, target);
    return;
  } catch (error) {
    if (errorCode(error) !== "ENOTEMPTY" && errorCode(error) !== "EEXIST") throw error;
  }
  const moved: string[] = [];
  let targetRemoved = false;
  try {
    for (const name of await readdir(target)) {
      await rename(join(target, name), join(source, name));
      moved.push(name);
    }
    await rmdir(target);
    targetRemoved = true;
    await rename(source, target);
  } catch (error) {
    if (targetRemoved) await mkdir(target, { recursive: true }).catch(() => undefined);
    for (const name of moved) await rename(join(source, name), join(target, name)).catch(() => undefined);
    throw error;
  }
}

/**
 * Removes a pool folder that was never handed to a session. `pristine` is false when a failed
 * move may have left a session's file in it: then only an empty folder is removed.
 */
export async function discardPoolFolder(folder: string, pristine: boolean): Promise<void> {
  if (pristine) await rm(folder, { recursive: true, force: true });
  else await rmdir(folder).catch(() => undefined);
}

/**
 * Removes the pool folders of processes that are gone (a host that crashed or was killed);
 * folders of live processes, this one included, are left alone. Returns how many went.
 */
export async function removeStalePoolFolders(root: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || isProcessAlive(pid)) continue;
    await rm(join(root, name), { recursive: true, force: true }).catch(() => undefined);
    removed += 1;
  }
  return removed;
}
