import { posix } from "node:path";
import { FileAccessError, TaskWeaverError, type FileInfo } from "@taskweaver/core";
import type { KernelClient } from "../internal/protocol/kernel-client.js";
import { pythonString } from "../internal/support-code.js";
import type { WorkingDirectoryFiles } from "../internal/working-directory.js";
import type { ContentsModel, JupyterRestClient } from "./jupyter-rest-client.js";

function outside(name: string): FileAccessError {
  return new FileAccessError(
    "path_outside_workdir",
    `The path ${JSON.stringify(name)} is outside the session's working directory; use a relative path inside it.`,
  );
}

function notFound(name: string): FileAccessError {
  return new FileAccessError(
    "file_not_found",
    `No file ${JSON.stringify(name)} in the working directory on the server.`,
  );
}

/**
 * Checks a file name given by a caller and returns it canonical (`/`-separated, relative to
 * the working directory). Absolute paths, drive letters, NUL bytes and `..` escapes are refused
 * before anything reaches the server; backslashes count as separators because the server may
 * run on Windows.
 */
export function normalizeRemoteFileName(name: string): string {
  if (name === "" || name.includes("\0")) throw outside(name);
  const slashed = name.replaceAll("\\", "/");
  if (slashed.startsWith("/") || /^[a-zA-Z]:/.test(slashed)) throw outside(name);
  const normalized = posix.normalize(slashed);
  if (normalized === "." || normalized === ".." || normalized.startsWith("../")) throw outside(name);
  return normalized.replace(/\/+$/, "");
}

function joinServerPath(directory: string, name: string): string {
  return directory === "" ? name : `${directory}/${name}`;
}

/** Options of {@link createContentsApiFiles}. */
export interface ContentsApiFilesOptions {
  rest: JupyterRestClient;
  /** Working directory relative to the server root, `/`-separated ("" for the root itself). */
  workingDirectory: string;
  /** @default 10000 */
  maxListedFiles?: number;
  /**
   * Checks a canonical relative name before any transfer. The Contents API follows symbolic
   * links (it only keeps `..` inside the server root), so the remote executor resolves the
   * real path inside the kernel here; throws FileAccessError for paths that lead out.
   */
  confine?: (name: string, original: string) => Promise<void>;
  /**
   * Lists the files instead of walking the Contents API, which would follow symbolic links
   * out of the working directory.
   */
  list?: () => Promise<FileInfo[]>;
}

/**
 * The working directory's files through Jupyter Server's Contents API (base64 format). The
 * server keeps paths inside its root; we keep them inside the session's folder.
 */
export function createContentsApiFiles(options: ContentsApiFilesOptions): WorkingDirectoryFiles & {
  /** Creates the working directory (and its parents) on the server; idempotent. */
  ensureWorkingDirectory(): Promise<void>;
} {
  const { rest, workingDirectory } = options;
  const confine = options.confine ?? (async () => undefined);
  const maxListedFiles = options.maxListedFiles ?? 10_000;
  const knownDirectories = new Set<string>();

  const ensureDirectory = async (path: string): Promise<void> => {
    if (path === "" || knownDirectories.has(path)) return;
    const segments = path.split("/");
    for (let index = 1; index <= segments.length; index += 1) {
      const prefix = segments.slice(0, index).join("/");
      if (knownDirectories.has(prefix)) continue;
      // PUT of a directory is idempotent in the Contents API; parents must exist first.
      const model = await rest.saveContents(prefix, { type: "directory" });
      if (model.type !== "directory") {
        throw new FileAccessError(
          "file_not_found",
          `${JSON.stringify(prefix)} exists on the server and is not a folder.`,
        );
      }
      knownDirectories.add(prefix);
    }
  };

  const toInfo = (model: ContentsModel, size: number): FileInfo => {
    const prefix = workingDirectory === "" ? "" : `${workingDirectory}/`;
    const name = model.path.startsWith(prefix) ? model.path.slice(prefix.length) : model.name;
    const modified = model.last_modified ? new Date(model.last_modified) : new Date();
    return {
      name,
      size,
      modifiedAt: Number.isNaN(modified.getTime()) ? new Date().toISOString() : modified.toISOString(),
    };
  };

  return {
    ensureWorkingDirectory: () => ensureDirectory(workingDirectory),

    async upload(name, data) {
      const relative = normalizeRemoteFileName(name);
      await confine(relative, name);
      const path = joinServerPath(workingDirectory, relative);
      await ensureDirectory(posix.dirname(path) === "." ? "" : posix.dirname(path));
      const model = await rest.saveContents(path, {
        type: "file",
        format: "base64",
        content: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64"),
      });
      return toInfo(model, data.byteLength);
    },

    async download(name) {
      const relative = normalizeRemoteFileName(name);
      await confine(relative, name);
      const model = await rest.getContents(joinServerPath(workingDirectory, relative), {
        type: "file",
        format: "base64",
      });
      if (model === undefined || model.type !== "file" || typeof model.content !== "string")
        throw notFound(name);
      // A server may answer in text format for text files despite the request; honour what it says.
      if (model.format === "text") return new Uint8Array(Buffer.from(model.content, "utf8"));
      return new Uint8Array(Buffer.from(model.content, "base64"));
    },

    async list() {
      if (options.list) return await options.list();
      const files: FileInfo[] = [];
      const walk = async (path: string): Promise<void> => {
        const model = await rest.getContents(path, { type: "directory" });
        if (model === undefined || !Array.isArray(model.content)) return;
        for (const child of model.content as ContentsModel[]) {
          if (files.length >= maxListedFiles) return;
          if (child.type === "directory") await walk(child.path);
          else if (typeof child.size === "number") files.push(toInfo(child, child.size));
          else {
            // Some servers leave `size` out of listings; ask for the file's own model.
            const full = await rest.getContents(child.path, { content: false });
            files.push(toInfo(child, typeof full?.size === "number" ? full.size : 0));
          }
        }
      };
      await walk(workingDirectory);
      return files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
  };
}

/** MIME type of the private displays the kernel-side file helper answers with. */
const FILES_MIME = "application/vnd.taskweaver.remote-files+json";
/** The environment variable holding the working directory's absolute path inside the kernel. */
export const REMOTE_WORKDIR_VARIABLE = "TASKWEAVER_REMOTE_WORKDIR";
/** Bytes per execute: keeps every message well under servers' WebSocket and iopub limits. */
const CHUNK_BYTES = 512 * 1024;

/**
 * Runs inside the kernel as the in-memory module `_taskweaver_remote_files`. Paths are
 * resolved with `realpath`, so symbolic links cannot lead out of the working directory.
 */
const KERNEL_FILES_SOURCE = `
import base64, os

MIME = ${pythonString(FILES_MIME)}


def _root():
    return os.path.realpath(os.environ.get(${pythonString(REMOTE_WORKDIR_VARIABLE)}) or os.getcwd())


def _send(value):
    from IPython.display import publish_display_data

    publish_display_data({MIME: value})


def _resolve(name):
    root = _root()
    target = os.path.realpath(os.path.join(root, name))
    if target == root or not target.startswith(root.rstrip(os.sep) + os.sep):
        return root, None
    return root, target


def _info(root, path):
    status = os.stat(path)
    return {"name": os.path.relpath(path, root).replace(os.sep, "/"), "size": status.st_size, "modified": status.st_mtime}


def write(name, data, append):
    root, path = _resolve(name)
    if path is None:
        return _send({"error": "outside"})
    if os.path.isdir(path):
        return _send({"error": "not_a_file"})
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "ab" if append else "wb") as handle:
        handle.write(base64.b64decode(data))
    _send({"file": _info(root, path)})


def read(name, offset, length):
    root, path = _resolve(name)
    if path is None:
        return _send({"error": "outside"})
    if not os.path.isfile(path):
        return _send({"error": "not_found"})
    with open(path, "rb") as handle:
        handle.seek(offset)
        chunk = handle.read(length)
    _send({"data": base64.b64encode(chunk).decode("ascii"), "size": os.path.getsize(path)})


def check(name):
    root, path = _resolve(name)
    _send({"error": "outside"} if path is None else {"ok": True})


def listing(limit):
    root = _root()
    files = []
    for folder, folders, names in os.walk(root):
        folders.sort()
        for name in sorted(names):
            path = os.path.join(folder, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            files.append(_info(root, path))
            if len(files) >= limit:
                return _send({"files": files})
    _send({"files": files})
`;

function kernelFilesCall(call: string): string {
  // Defines the helper module on first use, then calls it; leaves no name in the user namespace.
  return (
    `(lambda __sys: (__sys.modules.get("_taskweaver_remote_files") or (lambda __module: (` +
    `exec(compile(${pythonString(KERNEL_FILES_SOURCE)}, "taskweaver_remote_files.py", "exec"), __module.__dict__), ` +
    `__sys.modules.__setitem__("_taskweaver_remote_files", __module), __module)[-1])(` +
    `__import__("types").ModuleType("_taskweaver_remote_files"))).${call})(__import__("sys"))`
  );
}

interface KernelFilesAnswer {
  ok?: boolean;
  error?: "outside" | "not_found" | "not_a_file";
  file?: { name: string; size: number; modified: number };
  files?: { name: string; size: number; modified: number }[];
  data?: string;
  size?: number;
}

/** Options of {@link createKernelFiles}. */
export interface KernelFilesOptions {
  /** The session's kernel, started when needed. */
  client: () => Promise<KernelClient>;
  /** @default 10000 */
  maxListedFiles?: number;
}

/**
 * The working directory's files through the kernel itself (base64 over `execute_request`),
 * for Kernel Gateway and Enterprise Gateway, which have no Contents API.
 */
export function createKernelFiles(options: KernelFilesOptions): WorkingDirectoryFiles & {
  /** Throws FileAccessError when `name` (canonical, relative) resolves outside the working directory. */
  confine(name: string, original: string): Promise<void>;
} {
  const maxListedFiles = options.maxListedFiles ?? 10_000;

  const call = async (name: string, pythonCall: string): Promise<KernelFilesAnswer> => {
    const client = await options.client();
    let answer: KernelFilesAnswer | undefined;
    const reply = await client.execute(kernelFilesCall(pythonCall), {
      silent: true,
      onOutput: (output) => {
        if (output.type === "display_data" && FILES_MIME in output.content.data) {
          answer = output.content.data[FILES_MIME] as KernelFilesAnswer;
        }
      },
    }).done;
    if (reply.content.status !== "ok") {
      throw new TaskWeaverError(
        "remote_file_error",
        `The kernel could not access ${JSON.stringify(name)}: ${reply.content.ename ?? "Error"}: ${reply.content.evalue ?? ""}`,
      );
    }
    if (answer === undefined) {
      throw new TaskWeaverError(
        "remote_file_error",
        `The kernel did not answer the file request for ${JSON.stringify(name)}.`,
      );
    }
    if (answer.error === "outside") throw outside(name);
    if (answer.error === "not_found" || answer.error === "not_a_file") throw notFound(name);
    return answer;
  };

  const toInfo = (file: { name: string; size: number; modified: number }): FileInfo => ({
    name: file.name,
    size: file.size,
    modifiedAt: new Date(file.modified * 1000).toISOString(),
  });

  return {
    async confine(name, original) {
      await call(original, `check(${pythonString(name)})`);
    },

    async upload(name, data) {
      const relative = normalizeRemoteFileName(name);
      const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      let last: KernelFilesAnswer | undefined;
      let offset = 0;
      do {
        const chunk = buffer.subarray(offset, offset + CHUNK_BYTES).toString("base64");
        last = await call(
          name,
          `write(${pythonString(relative)}, ${pythonString(chunk)}, ${offset === 0 ? "False" : "True"})`,
        );
        offset += CHUNK_BYTES;
      } while (offset < buffer.length);
      if (last.file === undefined)
        throw new TaskWeaverError(
          "remote_file_error",
          `Uploading ${JSON.stringify(name)} gave no file information.`,
        );
      return toInfo(last.file);
    },

    async download(name) {
      const relative = normalizeRemoteFileName(name);
      const chunks: Buffer[] = [];
      let offset = 0;
      for (;;) {
        const answer = await call(name, `read(${pythonString(relative)}, ${offset}, ${CHUNK_BYTES})`);
        const chunk = Buffer.from(answer.data ?? "", "base64");
        chunks.push(chunk);
        offset += chunk.length;
        if (chunk.length === 0 || offset >= (answer.size ?? 0)) break;
      }
      return new Uint8Array(Buffer.concat(chunks));
    },

    async list() {
      const answer = await call(".", `listing(${maxListedFiles})`);
      return (answer.files ?? [])
        .map(toInfo)
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
  };
}
