import { spawn } from "node:child_process";
import { constants } from "node:fs";
import { access, readdir, readFile, realpath } from "node:fs/promises";
import { homedir } from "node:os";
import { delimiter, dirname, join, resolve, sep } from "node:path";
import { ExecutorUnavailableError } from "@taskweaver/core";
import type { SandboxMount } from "../internal/fork-protocol.js";

/** The values of `execution_service.local.sandbox`. */
export type LocalSandboxMode = "auto" | "bwrap" | "none";

/** How a sandboxed local kernel is confined (see the executor README, "Sandboxed local kernels"). */
export interface LocalSandboxOptions {
  /** The bubblewrap binary. @default "bwrap" */
  bwrap?: string;
  /** Keeps the host's network (`execution_service.local.network`). @default false */
  network?: boolean;
  /** RLIMIT_AS of the kernel in bytes (`execution_service.local.memory`). @default no limit */
  memoryBytes?: number;
  /** RLIMIT_NPROC of the kernel (`execution_service.local.pids_limit`). @default no limit */
  pidsLimit?: number;
  /** RLIMIT_CPU of the kernel in seconds (`execution_service.local.cpu_time`). @default no limit */
  cpuTimeSeconds?: number;
  /**
   * Host directories bound back read-only when `$HOME`, `/root` or `/tmp` covers them, e.g. the app
   * directory (its data files, as the original's examples read them); not one that holds the home.
   * @default []
   */
  visibleDirectories?: readonly string[];
  /**
   * Host directories replaced by an empty tmpfs inside the sandbox (besides `$HOME` and `/root`),
   * e.g. the folder of every session; the session's working directory is bound on top.
   * @default []
   */
  hiddenDirectories?: readonly string[];
  /**
   * Size of each writable tmpfs of the sandbox (its private /tmp, the emptied home and hidden
   * directories), so code cannot fill the host's memory through them
   * (`execution_service.max_workdir_bytes`). @default no limit
   */
  tmpfsBytes?: number;
}

/** Where to get bubblewrap, for the messages that need it. */
export const BUBBLEWRAP_HINT = "Install bubblewrap (`apt-get install bubblewrap`) to sandbox local kernels.";

const probes = new Map<string, Promise<string | undefined>>();

/**
 * Runs a trivial command under the namespaces we use, once per binary: `undefined` when it works,
 * else why not (no binary, or user namespaces refused, as in some containers).
 */
export function probeBubblewrap(bwrap = "bwrap"): Promise<string | undefined> {
  let probe = probes.get(bwrap);
  if (!probe) {
    probe = new Promise((resolvePromise) => {
      const child = spawn(
        bwrap,
        [
          "--ro-bind",
          "/",
          "/",
          "--dev",
          "/dev",
          "--proc",
          "/proc",
          "--unshare-net",
          "--unshare-pid",
          "--die-with-parent",
          "true",
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
      child.once("error", (error) => resolvePromise(`${bwrap} could not be run: ${error.message}`));
      child.once("exit", (code) =>
        resolvePromise(
          code === 0 ? undefined : `${bwrap} failed (exit code ${code}): ${stderr.trim().slice(0, 500)}`,
        ),
      );
    });
    probes.set(bwrap, probe);
  }
  return probe;
}

let warnedUnsandboxed = false;

/**
 * Whether kernels run in bubblewrap for `mode`: `"auto"` uses it when the probe passes and says
 * once (on `warn`) when it does not; `"bwrap"` without a working bwrap is an error.
 */
export async function resolveSandbox(
  mode: LocalSandboxMode,
  options: { bwrap?: string; warn?: (message: string) => void } = {},
): Promise<boolean> {
  if (mode === "none") return false;
  const problem = await probeBubblewrap(options.bwrap);
  if (problem === undefined) return true;
  if (mode === "bwrap") {
    throw new ExecutorUnavailableError(
      `execution_service.local.sandbox is "bwrap" but bubblewrap does not work here: ${problem}. ${BUBBLEWRAP_HINT}`,
    );
  }
  if (!warnedUnsandboxed) {
    warnedUnsandboxed = true;
    (options.warn ?? ((message: string) => process.stderr.write(`taskweaver: ${message}\n`)))(
      `local kernels run without a sandbox, with your user's full rights (${problem}). ${BUBBLEWRAP_HINT}`,
    );
  }
  return false;
}

function isInside(path: string, directory: string): boolean {
  return path === directory || path.startsWith(directory.endsWith(sep) ? directory : directory + sep);
}

// One mount of a sandbox's view (a fresh tmpfs, a bind of a host directory, a pseudo-terminal
// instance of its own, an existing mount made read-only): the fork protocol's wire shape.
export type { SandboxMount };

/** The `hide`/`bind back` part every sandbox view shares, for `createSandboxMounts`. */
async function createCoveringMounts(input: { python: string; options: LocalSandboxOptions }): Promise<{
  mounts: SandboxMount[];
  size: number | undefined;
}> {
  const { options } = input;
  const home = [homedir(), "/root"].map((path) => resolve(path));
  const covered = [...home, "/tmp"];
  const size = options.tmpfsBytes === undefined ? undefined : Math.floor(options.tmpfsBytes);
  const tmpfs = (path: string): SandboxMount => (size === undefined ? { type: "tmpfs", path } : { type: "tmpfs", path, size });
  const mounts: SandboxMount[] = [tmpfs("/tmp")];
  const existing = async (path: string) => realpath(path).catch(() => undefined);
  // A missing directory has nothing to hide (and bubblewrap could not make its mount point in the
  // read-only root); hiding an ancestor of /tmp would hide the root.
  const hide = async (directories: readonly string[]) => {
    for (const directory of new Set(directories)) {
      const path = await existing(directory);
      if (path !== undefined && path !== "/" && !isInside("/tmp", path)) mounts.push(tmpfs(path));
    }
  };
  await hide(home);
  for (const directory of new Set(options.visibleDirectories ?? [])) {
    const path = await existing(directory);
    if (path === undefined || !covered.some((cover) => isInside(path, cover) && path !== cover)) continue;
    if (home.some((directory) => isInside(directory, path))) continue;
    mounts.push({ type: "bind", source: path, path, readonly: true });
  }
  // A Python under a hidden directory (a virtual environment, pyenv) stays reachable, read-only:
  // the environment (its site-packages) and the interpreter it links to.
  for (const path of new Set([input.python, await realpath(input.python).catch(() => input.python)])) {
    const prefix = dirname(dirname(path));
    if (prefix !== "/" && covered.some((directory) => isInside(path, directory)))
      mounts.push({ type: "bind", source: prefix, path: prefix, readonly: true });
  }
  await hide(options.hiddenDirectories ?? []);
  return { mounts, size };
}

/**
 * The mounts of one kernel's view, in order (later mounts go on top): the hidden directories are
 * emptied first, and the session's working directory, the connection directory and the Python
 * installation are bound back over them. `sources` says where the working and connection
 * directories are found when that is not their own path (a forked kernel binds them from the
 * template's staging directories).
 */
export async function createSandboxMounts(input: {
  workingDirectory: string;
  connectionDirectory: string;
  python: string;
  options: LocalSandboxOptions;
  sources?: { workingDirectory: string; connectionDirectory: string };
}): Promise<SandboxMount[]> {
  const workingDirectory = await realpath(input.workingDirectory);
  const connectionDirectory = await realpath(input.connectionDirectory);
  const { mounts } = await createCoveringMounts(input);
  mounts.push(
    { type: "bind", source: input.sources?.workingDirectory ?? workingDirectory, path: workingDirectory, readonly: false },
    {
      type: "bind",
      source: input.sources?.connectionDirectory ?? connectionDirectory,
      path: connectionDirectory,
      readonly: false,
    },
  );
  return mounts;
}

function bubblewrapMountArguments(mounts: readonly SandboxMount[]): string[] {
  return mounts.flatMap((mount) => {
    switch (mount.type) {
      // bubblewrap's --size applies to the --tmpfs that follows it.
      case "tmpfs":
        return [...(mount.size === undefined ? [] : ["--size", String(mount.size)]), "--tmpfs", mount.path];
      case "bind":
        return [mount.readonly ? "--ro-bind" : "--bind", mount.source, mount.path];
      case "devpts":
      case "readonly":
        throw new Error(`bubblewrap arguments do not take a ${mount.type} mount`);
    }
  });
}

/**
 * The bubblewrap arguments (up to and excluding the command) for one kernel. Every capability is
 * dropped: run by root, bubblewrap would otherwise leave the kernel CAP_SYS_ADMIN in its mount
 * namespace, enough to unmount the tmpfs that hides the other sessions' folders.
 */
export async function createBubblewrapArguments(input: {
  workingDirectory: string;
  connectionDirectory: string;
  python: string;
  options: LocalSandboxOptions;
}): Promise<string[]> {
  const args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"];
  args.push(...bubblewrapMountArguments(await createSandboxMounts(input)));
  args.push("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--cap-drop", "ALL");
  if (!input.options.network) args.push("--unshare-net");
  args.push("--chdir", await realpath(input.workingDirectory));
  return args;
}

/** Where a fork template sees the working roots: `<STAGING_DIRECTORY>/<index>`, under its private /tmp. */
export const STAGING_DIRECTORY = "/tmp/.taskweaver-stage";

/**
 * The bubblewrap arguments of a fork template (see `fork-kernel-launcher.ts`): the view of a
 * sandboxed kernel without a session, plus the runtime directory (its socket, the kernels'
 * connection files) at its own path and each working root under `STAGING_DIRECTORY`, from where
 * each forked kernel binds its own directories before its private /tmp covers the rest. The
 * template keeps its capabilities (each kernel drops them, see `taskweaver_fork_server.py`) and
 * the host's PID namespace, so the pids it reports are the host's.
 */
export async function createTemplateBubblewrapArguments(input: {
  runtimeDirectory: string;
  workingRoots: readonly string[];
  python: string;
  options: LocalSandboxOptions;
  /** The package's Python files (the fork server and support code), bound read-only: a checkout under /tmp or home would be hidden. */
  codeDirectory: string;
}): Promise<string[]> {
  const { mounts } = await createCoveringMounts(input);
  const code = await realpath(input.codeDirectory);
  mounts.push({ type: "bind", source: code, path: code, readonly: true });
  const runtime = await realpath(input.runtimeDirectory);
  mounts.push({ type: "bind", source: runtime, path: runtime, readonly: false });
  for (const [index, root] of input.workingRoots.entries())
    mounts.push({ type: "bind", source: root, path: `${STAGING_DIRECTORY}/${index}`, readonly: false });
  const args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", ...bubblewrapMountArguments(mounts)];
  args.push("--unshare-ipc", "--unshare-uts", "--die-with-parent");
  if (!input.options.network) args.push("--unshare-net");
  args.push("--chdir", "/");
  return args;
}

/**
 * The mounts a forked kernel's sandbox makes inside its template (applied in order by the
 * template's child, `taskweaver_fork_server.py`): fresh private /tmp, home and hidden directories,
 * a /dev of its own (a new /dev/shm and pseudo-terminal instance, the rest read-only: the
 * template's /dev is shared by its kernels), then, as `kernelMounts`, the kernel's working
 * directory and connection directory from the template's staging directories. The first part is
 * the same for every kernel of a template, so a sandbox can be made ahead and given the second
 * part when a session asks (`reusableDirectories` hold the second part's sources).
 */
export async function createForkedSandboxMounts(input: {
  workingDirectory: string;
  workingRootIndex: number;
  workingRoot: string;
  connectionDirectory: string;
  runtimeDirectory: string;
  python: string;
  options: LocalSandboxOptions;
}): Promise<{ mounts: SandboxMount[]; kernelMounts: SandboxMount[]; reusableDirectories: string[] }> {
  const workingDirectory = await realpath(input.workingDirectory);
  const relativePath = workingDirectory.slice(input.workingRoot.length).replace(/^\/+/, "");
  const all = await createSandboxMounts({
    ...input,
    sources: {
      workingDirectory: `${STAGING_DIRECTORY}/${input.workingRootIndex}${relativePath ? `/${relativePath}` : ""}`,
      connectionDirectory: await realpath(input.connectionDirectory),
    },
  });
  // createSandboxMounts ends with the working directory's and the connection directory's binds.
  const mounts = all.slice(0, -2);
  const size = input.options.tmpfsBytes === undefined ? {} : { size: Math.floor(input.options.tmpfsBytes) };
  mounts.push({ type: "tmpfs", path: "/dev/shm", ...size }, { type: "devpts", path: "/dev/pts" }, { type: "readonly", path: "/dev" });
  return { mounts, kernelMounts: all.slice(-2), reusableDirectories: [STAGING_DIRECTORY, await realpath(input.runtimeDirectory)] };
}

/** The working root (an index of `roots`, real paths) that holds `workingDirectory`, if any. */
export async function findWorkingRoot(workingDirectory: string, roots: readonly string[]): Promise<number | undefined> {
  const path = await realpath(workingDirectory).catch(() => undefined);
  if (path === undefined) return undefined;
  const index = roots.findIndex((root) => isInside(path, root));
  return index < 0 ? undefined : index;
}

/**
 * The sandbox's writable tmpfs mounts as the host sees them, through the kernel's mount namespace
 * (`/proc/<pid>/root`): its /tmp, the emptied home and hidden directories. The working directory,
 * bound inside one of them, is the same inodes as on the host and is counted once.
 */
export function sandboxScratchDirectories(kernelPid: number, options: LocalSandboxOptions): string[] {
  const root = `/proc/${kernelPid}/root`;
  const paths = ["/tmp", homedir(), "/root", ...(options.hiddenDirectories ?? [])].map((path) => resolve(path));
  return [...new Set(paths)].map((path) => root + path);
}

/** The absolute path of `command` as `spawn` would find it on PATH (the sandbox's PATH may be hidden). */
export async function resolveCommand(command: string): Promise<string> {
  if (command.includes("/")) return resolve(command);
  for (const directory of (process.env.PATH ?? "").split(delimiter)) {
    if (!directory) continue;
    const candidate = join(directory, command);
    if (await isExecutable(candidate)) return candidate;
  }
  return command;
}

/** Whether `path` is a file this process may execute. */
export function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** The sandbox's rlimits by `resource` name (soft and hard alike), as a kernel sets them on itself. */
export function sandboxLimits(options: LocalSandboxOptions): Record<string, readonly [number, number]> {
  const limits: Record<string, readonly [number, number]> = {};
  if (options.memoryBytes !== undefined) limits.RLIMIT_AS = [options.memoryBytes, options.memoryBytes];
  if (options.pidsLimit !== undefined) limits.RLIMIT_NPROC = [options.pidsLimit, options.pidsLimit];
  if (options.cpuTimeSeconds !== undefined) {
    const seconds = Math.ceil(options.cpuTimeSeconds);
    limits.RLIMIT_CPU = [seconds, seconds];
  }
  return limits;
}

/** Python lines that set the kernel's rlimits on itself before ipykernel starts. */
export function createLimitScript(options: LocalSandboxOptions): string[] {
  const limits = Object.entries(sandboxLimits(options));
  if (limits.length === 0) return [];
  return [
    "import resource",
    ...limits.map(([name, [value]]) => `resource.setrlimit(resource.${name}, (${value}, ${value}))`),
  ];
}

/**
 * The host pid of the kernel inside a sandbox: the child of bubblewrap's init (`initPid`, from
 * `--info-fd`). Signals for the kernel's process group go to it; bubblewrap itself must not get
 * the SIGINT of an interrupt.
 */
export async function findSandboxedKernelPid(
  initPid: number,
  options: { timeoutMs?: number; stopped?: () => boolean } = {},
): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (options.stopped?.())
      throw new ExecutorUnavailableError("The sandbox stopped before its kernel started.");
    for (const entry of await readdir("/proc").catch(() => [] as string[])) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
      // Fields after the command name, which may hold spaces and parentheses: state, ppid, ...
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === initPid) return Number(entry);
    }
    if (Date.now() > deadline) {
      throw new ExecutorUnavailableError(
        `The sandboxed kernel's process did not appear within ${timeoutMs} ms.`,
      );
    }
    await new Promise((resolvePromise) => setTimeout(resolvePromise, 5));
  }
}
