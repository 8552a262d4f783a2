import { readFile, rm } from "node:fs/promises";
import { basename, dirname } from "node:path";
import {
  FileAccessError,
  createRound,
  toTaskWeaverError,
  type CodeExecutor,
  type MessageFile,
  type Round,
  type TaskWeaverEvent,
} from "@taskweaver/core";
import { ApiError } from "./errors.js";
import { findFile, listFiles, type FileEntry } from "./files.js";
import { EventRecorder } from "./event-recorder.js";
import { RoundRun, type RoundError, type RoundOutcome } from "./round-run.js";
import type { HostedSession, SessionHost } from "./session-host.js";
import type { SessionRecord, SessionStore } from "./store/session-store.js";

/** Limits the API enforces; each has a config key `api.*`. */
export interface ApiLimits {
  /** Sessions holding a kernel at once (`api.max_sessions`). @default 64 */
  maxSessions: number;
  /** Largest JSON request body in bytes (`api.max_body_bytes`). @default 1 MiB */
  maxBodyBytes: number;
  /** Largest upload request in bytes (`api.max_upload_bytes`). @default 50 MiB */
  maxUploadBytes: number;
  /** Longest user message in characters (`api.max_message_chars`). @default 20000 */
  maxMessageChars: number;
  /** Idle time after which a session's kernel is stopped (`api.session_idle_timeout`, seconds). @default 30 minutes */
  sessionIdleTimeoutMs: number;
  /** How long shutdown waits for running rounds (`api.shutdown_grace_period`, seconds). @default 30 s */
  shutdownGracePeriodMs: number;
}

/** What a session looks like in API answers. */
export interface SessionView {
  id: string;
  created_at: string;
  roles: string[];
  /** `idle`: kernel ready; `running`: a round is running; `stopped`: no kernel, the next message starts one. */
  state: "idle" | "running" | "stopped";
}

/** A file of a session as {@link SessionManager.findFile} finds it. */
export type FoundFile = { path: string; size: number } | { data: Uint8Array; size: number };

/** Options of {@link SessionManager}. */
export interface SessionManagerOptions {
  /** The TaskWeaver app that opens the sessions. */
  taskWeaver: SessionHost;
  store: SessionStore;
  limits: ApiLimits;
  /** @default Date.now */
  now?: () => number;
  /** Receives problems that cannot be answered to a caller (a store write failing mid-round). @default ignored */
  log?: (message: string, error?: unknown) => void;
}

interface LiveSession {
  session: HostedSession;
  lastActiveAt: number;
}

const SHUTDOWN_ERROR: RoundError = {
  code: "server_shutdown",
  message: "The server shut down before the round finished.",
};
const RESTART_ERROR: RoundError = {
  code: "server_restarted",
  message: "The server stopped while this round was running.",
};

/** The note the model gets with the first message after a session's kernel was started anew. */
export function describeFreshKernel(files: string[]): string {
  const fileText =
    files.length === 0
      ? "The working directory is empty."
      : `The files in the working directory remain: ${files.slice(0, 30).join(", ")}${files.length > 30 ? ", ..." : ""}.`;
  return (
    "[Note: this conversation continues after its Python kernel was stopped (server restart or idle timeout) " +
    "and started anew. Variables, imports and data loaded in earlier rounds are gone and must be recreated " +
    `before use. ${fileText}]`
  );
}

/**
 * Owns the live sessions: creates and revives them, runs one round at a time per session,
 * records every event the core emits, stops idle kernels and drains everything on shutdown.
 */
export class SessionManager {
  /** Settles once rounds left running by an earlier process are marked failed. */
  readonly ready: Promise<void>;
  private readonly taskWeaver: SessionHost;
  private readonly store: SessionStore;
  private readonly limits: ApiLimits;
  private readonly now: () => number;
  private readonly log: (message: string, error?: unknown) => void;
  private readonly live = new Map<string, LiveSession>();
  private readonly reviving = new Map<string, Promise<LiveSession>>();
  private readonly runs = new Map<string, RoundRun>();
  private readonly events: EventRecorder;
  private readonly sweeper: NodeJS.Timeout;
  private drainingValue = false;

  constructor(options: SessionManagerOptions) {
    this.taskWeaver = options.taskWeaver;
    this.store = options.store;
    this.limits = options.limits;
    this.now = options.now ?? Date.now;
    this.log = options.log ?? (() => {});
    this.events = new EventRecorder(options.store, this.log);
    const store = options.store;
    this.ready = (async () => {
      await store.failUnfinishedRounds(RESTART_ERROR);
    })();
    // Reported by every operation that waits for it; this only keeps it from being unhandled.
    this.ready.catch((error: unknown) =>
      this.log("marking the rounds of an earlier process as failed did not work", error),
    );
    const sweepEvery = Math.max(50, Math.min(this.limits.sessionIdleTimeoutMs / 2, 30_000));
    this.sweeper = setInterval(() => void this.stopIdleSessions(), sweepEvery);
    this.sweeper.unref();
  }

  /** True once shutdown began: new sessions and rounds are refused (503). */
  get draining(): boolean {
    return this.drainingValue;
  }

  /** The number of sessions holding a kernel. */
  get liveCount(): number {
    return this.live.size;
  }

  view(record: SessionRecord): SessionView {
    const run = this.runs.get(record.id);
    return {
      id: record.id,
      created_at: record.createdAt,
      roles: record.roles,
      state: run && !run.finished ? "running" : this.live.has(record.id) ? "idle" : "stopped",
    };
  }

  /** Sessions visible to `owner` (`undefined`: all). */
  async list(owner: string | null | undefined): Promise<SessionView[]> {
    return (await this.store.listSessions(owner)).map((record) => this.view(record));
  }

  async create(ownerKeyHash: string | null): Promise<SessionView> {
    this.refuseWhileDraining();
    await this.ready;
    await this.makeRoom();
    const session = await this.taskWeaver.createSession();
    const record: SessionRecord = {
      id: session.id,
      ownerKeyHash,
      createdAt: new Date(this.now()).toISOString(),
      roles: [...session.roles],
      workingDirectory: session.workingDirectory,
    };
    try {
      await this.store.createSession(record);
    } catch (error) {
      await session.stop().catch(() => {});
      throw error;
    }
    this.live.set(session.id, { session, lastActiveAt: this.now() });
    return this.view(record);
  }

  activeRun(sessionId: string): RoundRun | undefined {
    return this.runs.get(sessionId);
  }

  /**
   * Starts a round and returns its run once the core has begun it; the round continues when
   * the caller goes away. Refuses a second round while one runs (409).
   */
  async startRound(record: SessionRecord, message: string, fileNames: readonly string[]): Promise<RoundRun> {
    this.refuseWhileDraining();
    await this.ready;
    if (this.runs.has(record.id)) {
      throw new ApiError(
        409,
        "round_in_progress",
        "A round is already running in this session; wait for it or interrupt it.",
      );
    }
    // Reserved before the next await so that a concurrent message sees it.
    const run = new RoundRun();
    this.runs.set(record.id, run);
    let entry: LiveSession;
    let files: MessageFile[];
    try {
      files = await readAttachments(record.workingDirectory, fileNames);
      entry = await this.ensureLive(record);
    } catch (error) {
      this.runs.delete(record.id);
      throw error;
    }
    entry.lastActiveAt = this.now();
    await this.runRound(record.id, entry, run, message, files);
    return run;
  }

  /** Interrupts the running round; false when none runs. */
  async interrupt(sessionId: string): Promise<boolean> {
    const run = this.runs.get(sessionId);
    const entry = this.live.get(sessionId);
    if (!run || run.finished || !entry) return false;
    await entry.session.interrupt();
    return true;
  }

  /** Stops the session's kernel, forgets it, and removes its files. */
  async delete(record: SessionRecord): Promise<void> {
    const run = this.runs.get(record.id);
    if (run) {
      await this.interrupt(record.id).catch(() => false);
      await Promise.race([run.done, delay(10_000)]);
    }
    await this.stopLive(record.id);
    await this.store.deleteSession(record.id);
    const directory = record.workingDirectory;
    // Remove the session's folder only when it has the layout we expect
    // (<workspace>/sessions/<id>/cwd); otherwise only the working directory itself.
    const sessionFolder =
      basename(directory) === "cwd" && basename(dirname(directory)) === record.id
        ? dirname(directory)
        : directory;
    await rm(sessionFolder, { recursive: true, force: true }).catch((error: unknown) =>
      this.log(`removing the files of session ${record.id} failed`, error),
    );
  }

  /**
   * The session's files, uploads and what its code wrote, recursively. With remote kernels
   * the code's files live on the server and are listed through the session's executor (its
   * kernel starts if it is stopped); uploads not yet handed to a round are still on this host.
   */
  async listFiles(record: SessionRecord): Promise<FileEntry[]> {
    const host = await listFiles(record.workingDirectory);
    const executor = await this.remoteExecutor(record);
    if (!executor) return host;
    const remote = (await executor.listFiles()).map((file) => ({
      name: file.name,
      size: file.size,
      modified_at: file.modifiedAt,
    }));
    const names = new Set(remote.map((file) => file.name));
    return [...remote, ...host.filter((file) => !names.has(file.name))].sort((a, b) =>
      a.name.localeCompare(b.name),
    );
  }

  /**
   * One file of the session: a host path (local and Docker kernels, and uploads), or the bytes
   * read through the executor (files written by remote kernels).
   */
  async findFile(record: SessionRecord, name: string): Promise<FoundFile> {
    const executor = await this.remoteExecutor(record);
    if (executor) {
      try {
        const data = await executor.downloadFile(name);
        return { data, size: data.byteLength };
      } catch (error) {
        // Not on the server: maybe an upload that is still only on this host. The code tells
        // the two kinds of FileAccessError apart (its union is closed).
        if (!(FileAccessError.isInstance(error) && error.code === "file_not_found")) throw error;
      }
    }
    return findFile(record.workingDirectory, name);
  }

  /** Stops kernels idle for longer than the limit (the sweeper calls this; exposed for tests). */
  async stopIdleSessions(): Promise<void> {
    const cutoff = this.now() - this.limits.sessionIdleTimeoutMs;
    for (const [id, entry] of this.live) {
      if (!this.runs.has(id) && entry.lastActiveAt <= cutoff) await this.stopLive(id);
    }
  }

  /**
   * Takes no new rounds, lets running rounds finish within the grace period, interrupts the
   * rest, marks what still runs as failed, and stops every kernel.
   */
  async shutdown(gracePeriodMs = this.limits.shutdownGracePeriodMs): Promise<void> {
    this.drainingValue = true;
    clearInterval(this.sweeper);
    const running = () => Promise.all([...this.runs.values()].map((run) => run.done));
    await Promise.race([running(), delay(gracePeriodMs)]);
    if (this.runs.size > 0) {
      await Promise.all(
        [...this.runs.keys()].map((id) =>
          this.live
            .get(id)
            ?.session.interrupt()
            .catch(() => {}),
        ),
      );
      await Promise.race([running(), delay(Math.min(5_000, Math.max(gracePeriodMs, 1_000)))]);
    }
    for (const [sessionId, run] of this.runs) await this.failStuckRound(sessionId, run);
    this.runs.clear();
    await Promise.all([...this.live.keys()].map((id) => this.stopLive(id)));
  }

  private refuseWhileDraining(): void {
    if (this.drainingValue)
      throw new ApiError(503, "shutting_down", "The server is shutting down and takes no new work.");
  }

  /**
   * Hands the message to the core and records its events. Resolves once the core began the
   * round (its `round-start`); a rejection before that means the session could not take a
   * round, answered 409 with the core's code.
   */
  private async runRound(
    sessionId: string,
    entry: LiveSession,
    run: RoundRun,
    message: string,
    files: MessageFile[],
  ): Promise<void> {
    let began!: () => void;
    const begun = new Promise<void>((resolve) => (began = resolve));
    let started = false;
    const onEvent = (event: TaskWeaverEvent) => {
      started = true;
      began();
      void this.events.record(sessionId, run, event);
    };
    const finish = async (outcome: RoundOutcome) => {
      await this.events.flush(sessionId);
      entry.lastActiveAt = this.now();
      if (this.runs.get(sessionId) === run) this.runs.delete(sessionId);
      run.finish(outcome);
    };
    const sending = entry.session.sendMessage(message, { onEvent, ...(files.length > 0 ? { files } : {}) });
    const settled = sending.then(
      (round) => ({ round }),
      (reason: unknown) => ({ reason }),
    );
    const first = await Promise.race([begun.then(() => undefined), settled]);
    if (first && "reason" in first && !started) {
      this.runs.delete(sessionId);
      const wrapped = toTaskWeaverError(first.reason);
      throw new ApiError(409, wrapped.code, wrapped.message, { cause: first.reason });
    }
    void settled.then(async (result) => {
      if ("round" in result) {
        const { round } = result;
        const error = round.state === "failed" ? (run.lastRoundError() ?? errorOf(entry.session)) : null;
        await finish({ round, error });
        return;
      }
      // The core's contract says this does not happen once a round began; end the run anyway
      // so that no reader waits forever, and say so in the log.
      this.log(`session ${sessionId}: sendMessage rejected after the round began`, result.reason);
      const wrapped = toTaskWeaverError(result.reason);
      const round: Round = {
        ...createRound(message),
        ...(run.roundId ? { id: run.roundId } : {}),
        state: "failed",
      };
      await finish({ round, error: { code: wrapped.code, message: wrapped.message } });
    });
  }

  /**
   * A round the core did not end within the grace period: the server ends it itself, with a
   * `round-error` of its own (`server_shutdown`), so its readers and its stored state agree.
   */
  private async failStuckRound(sessionId: string, run: RoundRun): Promise<void> {
    await this.events.flush(sessionId);
    await this.store.failUnfinishedRounds(SHUTDOWN_ERROR, sessionId);
    const round: Round = { ...createRound(""), state: "failed" };
    const started = run.events.find((item) => item.event.type === "round-start")?.event;
    if (started?.type === "round-start")
      Object.assign(round, { id: started.roundId, user_query: started.userQuery });
    const stored = (await this.store.listRounds(sessionId)).find((item) => item.id === round.id);
    if (stored) round.post_list = stored.post_list;
    await this.events.record(sessionId, run, {
      type: "round-error",
      sessionId,
      roundId: round.id,
      error: SHUTDOWN_ERROR,
      round,
    });
    run.finish({ round, error: SHUTDOWN_ERROR });
  }

  private async stopLive(id: string): Promise<void> {
    const entry = this.live.get(id);
    if (!entry) return;
    this.live.delete(id);
    try {
      await entry.session.stop();
    } catch (error) {
      this.log(`stopping the kernel of session ${id} failed`, error);
    }
  }

  /** Frees a kernel slot by stopping the least recently used idle session, if there is one. */
  private async makeRoom(): Promise<void> {
    if (this.live.size + this.reviving.size < this.limits.maxSessions) return;
    const idle = [...this.live.entries()]
      .filter(([id]) => !this.runs.has(id))
      .sort((a, b) => a[1].lastActiveAt - b[1].lastActiveAt)[0];
    if (!idle) {
      throw new ApiError(
        429,
        "session_limit_reached",
        `All ${this.limits.maxSessions} session slots are running rounds (api.max_sessions); try again when one finishes.`,
      );
    }
    await this.stopLive(idle[0]);
  }

  private async ensureLive(record: SessionRecord): Promise<LiveSession> {
    const existing = this.live.get(record.id) ?? this.reviving.get(record.id);
    if (existing) return existing;
    const revive = this.revive(record);
    this.reviving.set(record.id, revive);
    try {
      return await revive;
    } finally {
      this.reviving.delete(record.id);
    }
  }

  /**
   * Opens a stored session anew. The model gets its history back from the store; the kernel is
   * new, so it is told that variables are gone while files remain (the core prepends the note to
   * the next message).
   */
  private async revive(record: SessionRecord): Promise<LiveSession> {
    await this.makeRoom();
    const rounds = (await this.store.listRounds(record.id)).map(
      ({ id, user_query, state, post_list }): Round => ({ id, user_query, state, post_list }),
    );
    const note =
      rounds.length > 0
        ? describeFreshKernel((await listFiles(record.workingDirectory, 100)).map((file) => file.name))
        : undefined;
    const session = await this.taskWeaver.createSession({
      sessionId: record.id,
      rounds,
      ...(note ? { note } : {}),
    });
    const entry: LiveSession = { session, lastActiveAt: this.now() };
    this.live.set(record.id, entry);
    return entry;
  }

  /** The executor of a session whose kernel is remote (files on the server), else undefined. */
  private async remoteExecutor(
    record: SessionRecord,
  ): Promise<Pick<CodeExecutor, "listFiles" | "downloadFile"> | undefined> {
    if (this.taskWeaver.config.get("execution_service.kernel_mode") !== "remote") return undefined;
    const entry = await this.ensureLive(record);
    entry.lastActiveAt = this.now();
    return entry.session.executor?.();
  }
}

/** The uploaded files a message names, read from the working directory (422 for a missing one). */
async function readAttachments(workingDirectory: string, names: readonly string[]): Promise<MessageFile[]> {
  const files: MessageFile[] = [];
  for (const name of names) {
    const found = await findFile(workingDirectory, name).catch((error: unknown) => {
      throw new ApiError(
        422,
        "unknown_file",
        `No uploaded file named ${JSON.stringify(name)}; upload it first.`,
        {
          details: [{ field: "files", message: `unknown file ${JSON.stringify(name)}` }],
          cause: error,
        },
      );
    });
    files.push({ name, data: new Uint8Array(await readFile(found.path)) });
  }
  return files;
}

function errorOf(session: HostedSession): RoundError {
  if (session.lastError) {
    const wrapped = toTaskWeaverError(session.lastError);
    return { code: wrapped.code, message: wrapped.message };
  }
  return { code: "round_failed", message: "The round failed." };
}

function delay(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds).unref());
}
