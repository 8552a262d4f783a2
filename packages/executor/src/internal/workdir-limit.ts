import { lstat, opendir } from "node:fs/promises";
import { join } from "node:path";
import { pythonString } from "./support-code.js";

/** Default of `execution_service.max_workdir_bytes`: 2 GiB. */
export const DEFAULT_MAX_WORKDIR_BYTES = 2 * 1024 ** 3;

/** The setting named in every message about the limit. */
export const WORKDIR_LIMIT_SETTING = "execution_service.max_workdir_bytes";

/** The `error.name` of an execution stopped by the limit, in every runtime. */
export const WORKDIR_LIMIT_ERROR_NAME = "WorkdirLimitExceeded";

/** What one walk found. */
export interface DirectoryUsage {
  /** Bytes allocated on disk (or in a tmpfs), each inode counted once. */
  bytes: number;
  /** Entries looked at. */
  entries: number;
  /** True when the walk stopped at `maxEntries`; `bytes` is then a lower bound. */
  partial: boolean;
}

/**
 * Bytes used under `directories`, by a plain walk (no inotify: nothing to set up or leak). Counts
 * allocated blocks, so a sparse file costs what it really takes; hard links and directories seen
 * twice count once. Each walk stays on its directory's own file system, as `du -x` does: a
 * sandbox's private /tmp holds bind mounts of the app directory and of the kernel's connection
 * files, which are not the kernel's scratch space (walking them cost the API a second of CPU per
 * load run). Missing directories count zero.
 */
export async function measureDirectories(
  directories: readonly string[],
  options: { maxEntries?: number } = {},
): Promise<DirectoryUsage> {
  const maxEntries = options.maxEntries ?? 200_000;
  const seen = new Set<string>();
  let bytes = 0;
  let entries = 0;
  const pending: { path: string; device: number | undefined }[] = directories.map((path) => ({ path, device: undefined }));
  const count = (stats: { dev: number; ino: number; blocks: number; size: number }): boolean => {
    const key = `${stats.dev}:${stats.ino}`;
    if (seen.has(key)) return false;
    seen.add(key);
    // Where no block count is reported (Windows), by size.
    bytes += Number.isFinite(stats.blocks) ? stats.blocks * 512 : stats.size;
    return true;
  };
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { path: directory } = next;
    const stats = await lstat(directory).catch(() => undefined);
    if (!stats?.isDirectory()) continue;
    const device = next.device ?? stats.dev;
    // A mount point inside the walk: another file system.
    if (stats.dev !== device || !count(stats)) continue;
    const handle = await opendir(directory).catch(() => undefined);
    if (!handle) continue;
    try {
      for await (const entry of handle) {
        entries += 1;
        if (entries > maxEntries) return { bytes, entries, partial: true };
        const path = join(directory, entry.name);
        if (entry.isDirectory()) pending.push({ path, device });
        else if (!entry.isSymbolicLink()) {
          const fileStats = await lstat(path).catch(() => undefined);
          if (fileStats && fileStats.dev === device) count(fileStats);
        }
      }
    } catch {
      // A directory removed while it was read: what was counted stands.
    }
  }
  return { bytes, entries, partial: false };
}

/** "2 GiB", "20 MiB", "512 KiB", "100 bytes". */
export function formatBytes(bytes: number): string {
  const units = ["GiB", "MiB", "KiB"] as const;
  for (const [index, unit] of units.entries()) {
    const size = 1024 ** (units.length - index);
    if (bytes >= size) {
      const value = bytes / size;
      return `${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}`;
    }
  }
  return `${bytes} bytes`;
}

/** The sentence the model and the user read when the limit stops an execution. */
export function describeWorkdirLimit(limitBytes: number, usedBytes?: number): string {
  const used = usedBytes === undefined ? "" : ` (it holds ${formatBytes(usedBytes)})`;
  return (
    `The execution was stopped: the working directory grew past its size limit of ${formatBytes(limitBytes)}${used}. ` +
    `Delete files you no longer need, write less, or raise ${WORKDIR_LIMIT_SETTING}.`
  );
}

/** Options of `createWorkdirWatcher`. */
export interface WorkdirWatcherOptions {
  /** Host directories counted together (the working directory, a sandbox's private /tmp). */
  directories: readonly string[];
  limitBytes: number;
  /** Bytes measured before the code ran; the limit trips only on growth past both. */
  baselineBytes: number | undefined;
  /** Called once, on the first sample over the limit. */
  onExceeded: (usedBytes: number) => void;
  /** @default 50 */
  minIntervalMs?: number;
  /**
   * Time between samples as a multiple of the last walk's duration, so a big directory costs at
   * most about 1/N of a core while code runs. @default 10
   */
  costFactor?: number;
}

/** A running watcher; `stop()` ends the sampling and resolves with the last figures. */
export interface WorkdirWatcher {
  /** The first sample's bytes: the baseline of the next execution when nothing else is known. */
  readonly firstBytes: Promise<number>;
  readonly exceeded: boolean;
  /** Stops sampling; resolves with a fresh measurement (the final size of the execution). */
  stop(): Promise<number>;
}

/**
 * Samples the directories' size while code runs, with a cost bounded by `costFactor`, and says
 * once when it passes the limit and the size at the start. The caller stops the code.
 */
export function createWorkdirWatcher(options: WorkdirWatcherOptions): WorkdirWatcher {
  const minIntervalMs = options.minIntervalMs ?? 50;
  const costFactor = options.costFactor ?? 10;
  let stopped = false;
  let exceeded = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  let resolveFirst: (bytes: number) => void = () => undefined;
  const firstBytes = new Promise<number>((resolve) => (resolveFirst = resolve));
  let baseline = options.baselineBytes;

  const check = (bytes: number) => {
    baseline ??= bytes;
    if (!exceeded && bytes > options.limitBytes && bytes > baseline) {
      exceeded = true;
      options.onExceeded(bytes);
    }
  };
  const sample = async () => {
    const started = performance.now();
    const usage = await measureDirectories(options.directories);
    resolveFirst(usage.bytes);
    if (stopped) return;
    check(usage.bytes);
    const delay = Math.max(minIntervalMs, (performance.now() - started) * costFactor);
    timer = setTimeout(() => {
      running = sample();
    }, delay);
    timer.unref?.();
  };
  running = sample();

  return {
    firstBytes,
    get exceeded() {
      return exceeded;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      const usage = await measureDirectories(options.directories);
      check(usage.bytes);
      return usage.bytes;
    },
  };
}

/**
 * Python that caps the size of any one file the kernel (and what it starts) writes (RLIMIT_FSIZE,
 * soft and hard): a single huge write fails with `OSError: [Errno 27] File too large` at once,
 * before a sampler could see it. Python ignores SIGXFSZ, so the kernel lives on.
 */
export function createFileSizeLimitCode(limitBytes: number): string {
  return [
    "def __taskweaver_fsize(limit):",
    "    try:",
    "        import resource",
    "        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)",
    "        if hard == resource.RLIM_INFINITY or hard > limit:",
    "            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))",
    "    except Exception:",
    "        pass",
    `__taskweaver_fsize(${Math.floor(limitBytes)})`,
    "del __taskweaver_fsize",
  ].join("\n");
}

/**
 * Python for kernels whose directory the host cannot see (remote): a daemon thread samples the
 * working directory while a cell runs (IPython's pre/post_run_cell events) and raises
 * `WorkdirLimitExceeded` in the cell when it grows past the limit, then SIGINT every 2 s while
 * the cell still runs (a C call the exception cannot reach). Installed once per kernel, again harmlessly (the old watcher is replaced).
 */
export function createKernelWorkdirWatcherCode(workdir: string, limitBytes: number): string {
  const message = describeWorkdirLimit(limitBytes);
  return `def __taskweaver_install_workdir_watcher(workdir, limit, message):
    import ctypes, os, signal, sys, threading, time
    ip = get_ipython()
    workdir = workdir or os.getcwd()
    support = sys.modules.get("_taskweaver_support")
    class WorkdirLimitExceeded(Exception):
        pass
    WorkdirLimitExceeded.__module__ = "builtins"
    old = getattr(support, "_workdir_watcher", None)
    if old is not None:
        old["stop"] = True
        for name in ("pre_run_cell", "post_run_cell"):
            try:
                ip.events.unregister(name, old[name])
            except Exception:
                pass
    state = {"stop": False, "running": False, "generation": 0}
    main = threading.main_thread().ident
    def measure():
        seen, total, count = set(), 0, 0
        stack = [workdir]
        while stack and count < 200000:
            path = stack.pop()
            try:
                entries = os.scandir(path)
            except OSError:
                continue
            with entries:
                for entry in entries:
                    count += 1
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    key = (info.st_dev, info.st_ino)
                    if key in seen:
                        continue
                    seen.add(key)
                    blocks = getattr(info, "st_blocks", None)
                    total += info.st_size if blocks is None else blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        return total
    def watch(generation, baseline):
        tripped = None
        while not state["stop"] and state["running"] and state["generation"] == generation:
            started = time.monotonic()
            used = measure()
            if used > limit and used > baseline and tripped is None:
                tripped = started
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(main), ctypes.py_object(WorkdirLimitExceeded))
            elif tripped is not None and started - tripped > 2:
                # The cell still runs 2 s later (a C call the exception cannot reach): interrupt it,
                # as the host would, once every 2 s. Not sooner: the cell may be ending already.
                tripped = started
                try:
                    signal.pthread_kill(main, signal.SIGINT)
                except Exception:
                    pass
            time.sleep(max(0.05, (time.monotonic() - started) * 10))
    def pre(*args):
        state["generation"] += 1
        state["running"] = True
        baseline = measure()
        threading.Thread(target=watch, args=(state["generation"], baseline), daemon=True, name="taskweaver-workdir-watcher").start()
    def post(*args):
        state["running"] = False
    state["pre_run_cell"], state["post_run_cell"] = pre, post
    ip.events.register("pre_run_cell", pre)
    ip.events.register("post_run_cell", post)
    WorkdirLimitExceeded.__init__ = lambda self, *args: Exception.__init__(self, message)
    if support is not None:
        support._workdir_watcher = state
__taskweaver_install_workdir_watcher(${pythonString(workdir)}, ${Math.floor(limitBytes)}, ${pythonString(message)})
del __taskweaver_install_workdir_watcher`;
}
