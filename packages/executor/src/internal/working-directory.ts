import { lstat, mkdir, readdir, readFile, realpath, stat, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { FileAccessError, type FileInfo } from "@taskweaver/core";

/** File operations of an executor's working directory. */
export interface WorkingDirectoryFiles {
  /** Writes a file (creating folders); `name` is relative to the working directory. */
  upload(name: string, data: Uint8Array): Promise<FileInfo>;
  download(name: string): Promise<Uint8Array>;
  /** Every regular file below the working directory, recursively, sorted by name. */
  list(): Promise<FileInfo[]>;
}

/** Options of `createWorkingDirectoryFiles`. */
export interface WorkingDirectoryFilesOptions {
  /** Upper bound on `list()` results, so a runaway loop creating files cannot flood a caller. @default 10000 */
  maxListedFiles?: number;
}

function outside(name: string): FileAccessError {
  return new FileAccessError(
    "path_outside_workdir",
    `The path ${JSON.stringify(name)} is outside the session's working directory; use a relative path inside it.`,
  );
}

function isInside(root: string, target: string): boolean {
  const path = relative(root, target);
  return path === "" || (!path.startsWith(`..${sep}`) && path !== ".." && !isAbsolute(path));
}

/**
 * Resolves `name` inside `root`, refusing absolute paths, `..` escapes and symbolic links that
 * lead out (checked on the deepest part of the path that exists). Returns the absolute path.
 */
export async function resolveInsideWorkingDirectory(root: string, name: string): Promise<string> {
  if (name === "" || name.includes("\0") || isAbsolute(name) || /^[a-zA-Z]:[\\/]/.test(name))
    throw outside(name);
  const absoluteRoot = resolve(root);
  const target = resolve(absoluteRoot, name);
  if (!isInside(absoluteRoot, target) || target === absoluteRoot) throw outside(name);
  const realRoot = await realpath(absoluteRoot);
  // The deepest existing ancestor decides where the path really leads.
  let existing = target;
  for (;;) {
    try {
      const real = await realpath(existing);
      if (!isInside(realRoot, real)) throw outside(name);
      break;
    } catch (error) {
      if (FileAccessError.isInstance(error)) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") throw error;
      // A dangling symbolic link is refused too: it could be created pointing outside later.
      const link = await lstat(existing).catch(() => undefined);
      if (link?.isSymbolicLink()) throw outside(name);
      existing = dirname(existing);
      if (existing.length < absoluteRoot.length) break;
    }
  }
  return target;
}

function toFileInfo(name: string, size: number, modified: Date): FileInfo {
  return { name: name.split(sep).join("/"), size, modifiedAt: modified.toISOString() };
}

/** File access for a working directory the host can see (local kernels, bind-mounted containers). */
export function createWorkingDirectoryFiles(
  root: string,
  options: WorkingDirectoryFilesOptions = {},
): WorkingDirectoryFiles {
  const maxListedFiles = options.maxListedFiles ?? 10_000;
  return {
    async upload(name, data) {
      const path = await resolveInsideWorkingDirectory(root, name);
      await mkdir(dirname(path), { recursive: true });
      // Re-check after creating folders: a folder on the way might have been a link.
      await resolveInsideWorkingDirectory(root, name);
      await writeFile(path, data);
      const info = await stat(path);
      return toFileInfo(relative(resolve(root), path), info.size, info.mtime);
    },
    async download(name) {
      const path = await resolveInsideWorkingDirectory(root, name);
      try {
        const info = await stat(path);
        if (!info.isFile())
          throw new FileAccessError("file_not_found", `${JSON.stringify(name)} is not a file.`);
        return new Uint8Array(await readFile(path));
      } catch (error) {
        if (FileAccessError.isInstance(error)) throw error;
        if ((error as NodeJS.ErrnoException).code === "ENOENT") {
          throw new FileAccessError(
            "file_not_found",
            `No file ${JSON.stringify(name)} in the working directory.`,
          );
        }
        throw error;
      }
    },
    async list() {
      const absoluteRoot = resolve(root);
      const files: FileInfo[] = [];
      const walk = async (folder: string): Promise<void> => {
        let entries;
        try {
          entries = await readdir(folder, { withFileTypes: true });
        } catch {
          return;
        }
        for (const entry of entries) {
          if (files.length >= maxListedFiles) return;
          const path = join(folder, entry.name);
          // Symbolic links are not followed: they may lead outside the working directory.
          if (entry.isDirectory()) await walk(path);
          else if (entry.isFile()) {
            const info = await stat(path).catch(() => undefined);
            if (info) files.push(toFileInfo(relative(absoluteRoot, path), info.size, info.mtime));
          }
        }
      };
      await walk(absoluteRoot);
      return files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
  };
}
