import { lstat, mkdir, readdir, realpath, stat, writeFile } from "node:fs/promises";
import { extname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { FileAccessError } from "@taskweaver/core";
import { ApiError } from "./errors.js";

const CONTENT_TYPES: Record<string, string> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".svg": "image/svg+xml",
  ".pdf": "application/pdf",
  ".csv": "text/csv; charset=utf-8",
  ".tsv": "text/tab-separated-values; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".log": "text/plain; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".py": "text/x-python; charset=utf-8",
  ".json": "application/json",
  ".html": "text/html; charset=utf-8",
  ".htm": "text/html; charset=utf-8",
  ".xml": "application/xml",
  ".yaml": "application/yaml",
  ".yml": "application/yaml",
  ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  ".xls": "application/vnd.ms-excel",
  ".parquet": "application/vnd.apache.parquet",
  ".zip": "application/zip",
  ".pkl": "application/octet-stream",
};

/** The Content-Type to serve a working-directory file with, from its extension. */
export function contentTypeFor(name: string): string {
  return CONTENT_TYPES[extname(name).toLowerCase()] ?? "application/octet-stream";
}

function hasControlCharacter(text: string): boolean {
  for (let index = 0; index < text.length; index += 1) {
    if (text.charCodeAt(index) < 0x20) return true;
  }
  return false;
}

/**
 * Checks an uploaded file's name: a plain file name, no folders, nothing hidden. Uploads are
 * refused rather than renamed so the caller knows exactly which name the code will see.
 */
export function checkUploadName(name: string): string {
  const problem =
    name.length === 0
      ? "is empty"
      : name.length > 255
        ? "is longer than 255 characters"
        : /[/\\]/.test(name)
          ? "contains a path separator"
          : name === "." || name === ".." || name.startsWith(".")
            ? "starts with a dot"
            : hasControlCharacter(name)
              ? "contains control characters"
              : undefined;
  if (problem) {
    throw new ApiError(
      400,
      "invalid_file_name",
      `The file name ${JSON.stringify(name)} ${problem}; use a plain file name such as "data.csv".`,
    );
  }
  return name;
}

/**
 * Resolves `name` (relative, `/`-separated) inside `root`, refusing anything that leaves it,
 * through `..`, an absolute path or a symbolic link pointing outside.
 */
export async function resolveInside(root: string, name: string): Promise<string> {
  const outside = () =>
    new FileAccessError(
      "path_outside_workdir",
      `The path ${JSON.stringify(name)} is outside the session's working directory.`,
    );
  if (name.length === 0 || name.includes("\0") || isAbsolute(name) || name.split(/[/\\]/).includes(".."))
    throw outside();
  const base = resolve(root);
  const target = resolve(base, name);
  const relation = relative(base, target);
  if (relation === "" || relation.startsWith("..") || isAbsolute(relation)) throw outside();
  let realBase: string;
  try {
    realBase = await realpath(base);
  } catch {
    throw new FileAccessError(
      "file_not_found",
      `No file named ${JSON.stringify(name)} in the session's working directory.`,
    );
  }
  let realTarget: string;
  try {
    realTarget = await realpath(target);
  } catch {
    throw new FileAccessError(
      "file_not_found",
      `No file named ${JSON.stringify(name)} in the session's working directory.`,
    );
  }
  if (realTarget !== realBase && !realTarget.startsWith(realBase + sep)) throw outside();
  return realTarget;
}

/** A regular file inside the working directory, or a 404/400 error. */
export async function findFile(root: string, name: string): Promise<{ path: string; size: number }> {
  const path = await resolveInside(root, name);
  const info = await stat(path);
  if (!info.isFile()) {
    throw new FileAccessError("file_not_found", `${JSON.stringify(name)} is a folder, not a file.`);
  }
  return { path, size: info.size };
}

/** Writes an uploaded file into the working directory (created when missing). */
export async function saveUpload(
  root: string,
  name: string,
  data: Uint8Array,
): Promise<{ name: string; size: number }> {
  checkUploadName(name);
  await mkdir(root, { recursive: true });
  const path = join(root, name);
  // Never write through a symbolic link planted in the working directory by earlier code.
  const existing = await lstat(path).catch(() => undefined);
  if (existing?.isSymbolicLink() || existing?.isDirectory()) {
    throw new ApiError(
      409,
      "file_conflict",
      `${JSON.stringify(name)} exists in the working directory and is not a regular file.`,
    );
  }
  await writeFile(path, data);
  return { name, size: data.byteLength };
}

/** A file as the API lists it. */
export interface FileEntry {
  /** Relative to the working directory, `/`-separated. */
  name: string;
  size: number;
  modified_at: string;
}

/** Files in the working directory, recursively, as `/`-separated relative names. */
export async function listFiles(root: string, limit = 1000): Promise<FileEntry[]> {
  const found: FileEntry[] = [];
  const walk = async (folder: string, prefix: string, depth: number): Promise<void> => {
    if (depth > 8 || found.length >= limit) return;
    const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (found.length >= limit) return;
      const name = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(join(folder, entry.name), name, depth + 1);
      else if (entry.isFile()) {
        const info = await stat(join(folder, entry.name)).catch(() => undefined);
        if (info) found.push({ name, size: info.size, modified_at: info.mtime.toISOString() });
      }
    }
  };
  await walk(root, "", 0);
  return found;
}
