import { readFile, rm } from "node:fs/promises";
import { basename, dirname } from "node:path";
import {
  createRound,
  TaskWeaverError,
  toTaskWeaverError,
  type CodeExecutor,
  type Round,
  type TaskWeaverEvent,
} from "@taskweaver/core";
import { ApiError } from "./errors.js";
import { findFile, listFiles, type FileEntry } from "./files.js";
import { RoundRun, type RoundOutcome } from "./round-run.js";
import type { RuntimeSession, TaskWeaverRuntime } from "./runtime.js";
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

interface LiveSession {
  session: RuntimeSession;
  lastActiveAt: number;
}

export interface SessionManagerOptions {
  runtime: TaskWeaverRuntime;
  store: SessionStore;
  limits: ApiLimits;
  /** @default Date.now */
  now?: () => number;
  /** Receives problems that cannot be answered to a caller (a store write failing mid-round). */
  log?: (message: string, error?: unknown) => void;
}

const SHUTDOWN_ERROR = {
  code: "server_shutdown",
  message: "The server shut down before the round finished.",
};
const RESTART_ERROR = {
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
 * records every event, stops idle kernels and drains everything on shutdown.
 */
export function createSessionManager(options: SessionManagerOptions) {
  const { runtime, store, limits } = options;
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => {});
  const live = new Map<string, LiveSession>();
  const reviving = new Map<string, Promise<LiveSession>>();
  const runs = new Map<string, RoundRun>();
  let draining = false;

  store.failUnfinishedRounds(RESTART_ERROR);

  const sweepEvery = Math.max(50, Math.min(limits.sessionIdleTimeoutMs / 2, 30_000));
  const sweeper = setInterval(() => void stopIdleSessions(), sweepEvery);
  sweeper.unref();

  function view(record: SessionRecord): SessionView {
    const run = runs.get(record.id);
    return {
      id: record.id,
      created_at: record.createdAt,
      roles: record.roles,
      state: run && !run.finished ? "running" : live.has(record.id) ? "idle" : "stopped",
    };
  }

  function refuseWhileDraining(): void {
    if (draining)
      throw new ApiError(503, "shutting_down", "The server is shutting down and takes no new work.");
  }

  async function stopLive(id: string): Promise<void> {
    const entry = live.get(id);
    if (!entry) return;
    live.delete(id);
    try {
      await entry.session.stop();
    } catch (error) {
      log(`stopping the kernel of session ${id} failed`, error);
    }
  }

  /** Frees a kernel slot by stopping the least recently used idle session, if there is one. */
  async function makeRoom(): Promise<void> {
    if (live.size + reviving.size < limits.maxSessions) return;
    const idle = [...live.entries()]
      .filter(([id]) => !runs.has(id))
      .sort((a, b) => a[1].lastActiveAt - b[1].lastActiveAt)[0];
    if (!idle) {
      throw new ApiError(
        429,
        "session_limit_reached",
        `All ${limits.maxSessions} session slots are running rounds (api.max_sessions); try again when one finishes.`,
      );
    }
    await stopLive(idle[0]);
  }

  async function stopIdleSessions(): Promise<void> {
    const cutoff = now() - limits.sessionIdleTimeoutMs;
    for (const [id, entry] of live) {
      if (!runs.has(id) && entry.lastActiveAt <= cutoff) await stopLive(id);
    }
  }

  async function ensureLive(record: SessionRecord): Promise<LiveSession> {
    const existing = live.get(record.id);
    if (existing) return existing;
    const pending = reviving.get(record.id);
    if (pending) return pending;
    const revive = (async () => {
      await makeRoom();
      // The model gets its history back from the store; the kernel is new, so it is told that
      // variables are gone while files remain (the core prepends the note to the next message).
      const rounds = store
        .listRounds(record.id)
        .map(({ id, user_query, state, post_list }): Round => ({ id, user_query, state, post_list }));
      const note =
        rounds.length > 0
          ? describeFreshKernel((await listFiles(record.workingDirectory, 100)).map((file) => file.name))
          : undefined;
      const session = await runtime.createSession({
        sessionId: record.id,
        rounds,
        ...(note ? { note } : {}),
      });
      const entry: LiveSession = { session, lastActiveAt: now() };
      live.set(record.id, entry);
      return entry;
    })();
    reviving.set(record.id, revive);
    try {
      return await revive;
    } finally {
      reviving.delete(record.id);
    }
  }

  /** Stores an event, persists what it changes, and hands it to the round's readers. */
  function record(sessionId: string, run: RoundRun, event: TaskWeaverEvent): void {
    try {
      const seq = store.appendEvent(sessionId, event);
      switch (event.type) {
        case "round-start":
          store.startRound(sessionId, { id: event.roundId, userQuery: event.userQuery });
          break;
        case "post-end":
          store.savePost(sessionId, event.roundId, event.post);
          break;
        case "round-end":
          store.finishRound(sessionId, event.round);
          break;
        case "round-error":
          store.finishRound(sessionId, { ...event.round, state: "failed" }, event.error);
          break;
        default:
          break;
      }
      run.push({ seq, event });
    } catch (error) {
      log(`storing a ${event.type} event of session ${sessionId} failed`, error);
    }
  }

  /** The executor of a session whose kernel is remote (files on the server), else undefined. */
  async function remoteExecutor(
    recordValue: SessionRecord,
  ): Promise<Pick<CodeExecutor, "listFiles" | "downloadFile"> | undefined> {
    if (runtime.config.get("execution_service.kernel_mode") !== "remote") return undefined;
    const entry = await ensureLive(recordValue);
    entry.lastActiveAt = now();
    return entry.session.executor?.();
  }

  function errorOf(session: RuntimeSession): { code: string; message: string } {
    const lastError = (session as { lastError?: unknown }).lastError;
    if (lastError) {
      const wrapped = toTaskWeaverError(lastError);
      return { code: wrapped.code, message: wrapped.message };
    }
    return { code: "round_failed", message: "The round failed." };
  }

  return {
    get draining() {
      return draining;
    },

    view,

    /** Sessions visible to `owner` (`undefined`: all). */
    list(owner: string | null | undefined): SessionView[] {
      return store.listSessions(owner).map(view);
    },

    async create(ownerKeyHash: string | null): Promise<SessionView> {
      refuseWhileDraining();
      await makeRoom();
      const session = await runtime.createSession();
      const recordValue: SessionRecord = {
        id: session.id,
        ownerKeyHash,
        createdAt: new Date(now()).toISOString(),
        roles: [...session.roles],
        workingDirectory: session.workingDirectory,
      };
      try {
        store.createSession(recordValue);
      } catch (error) {
        await session.stop().catch(() => {});
        throw error;
      }
      live.set(session.id, { session, lastActiveAt: now() });
      return view(recordValue);
    },

    activeRun(sessionId: string): RoundRun | undefined {
      return runs.get(sessionId);
    },

    /**
     * Starts a round and returns its run at once; the round continues even when the caller
     * goes away. Refuses a second round while one runs (409).
     */
    async startRound(recordValue: SessionRecord, message: string, fileNames: string[]): Promise<RoundRun> {
      refuseWhileDraining();
      if (runs.has(recordValue.id)) {
        throw new ApiError(
          409,
          "round_in_progress",
          "A round is already running in this session; wait for it or interrupt it.",
        );
      }
      // Reserve the session before the first await so that a concurrent message sees it.
      const run = new RoundRun(store.lastEventSeq(recordValue.id));
      runs.set(recordValue.id, run);
      let entry: LiveSession;
      let files: { name: string; data: Uint8Array }[];
      try {
        files = [];
        for (const name of fileNames) {
          const found = await findFile(recordValue.workingDirectory, name).catch((error: unknown) => {
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
        entry = await ensureLive(recordValue);
      } catch (error) {
        runs.delete(recordValue.id);
        throw error;
      }
      const text = message;
      entry.lastActiveAt = now();

      let roundId: string | undefined;
      let terminal = false;
      const onEvent = (event: TaskWeaverEvent) => {
        if (event.type === "round-start") roundId = event.roundId;
        if (event.type === "round-end" || event.type === "round-error") terminal = true;
        record(recordValue.id, run, event);
      };
      const finish = (outcome: RoundOutcome) => {
        entry.lastActiveAt = now();
        runs.delete(recordValue.id);
        run.finish(outcome);
      };

      entry.session.sendMessage(text, { onEvent, files: files.length > 0 ? files : undefined }).then(
        (round) => {
          const error = round.state === "failed" ? (lastErrorEvent(run) ?? errorOf(entry.session)) : null;
          if (!terminal) {
            // The core always ends with round-end or round-error; synthesise one if it did not,
            // so readers of the stream always get a last event carrying the round.
            record(
              recordValue.id,
              run,
              error
                ? { type: "round-error", sessionId: recordValue.id, roundId: round.id, error, round }
                : { type: "round-end", sessionId: recordValue.id, roundId: round.id, round },
            );
          }
          finish({ round, error });
        },
        (reason: unknown) => {
          const wrapped = toTaskWeaverError(reason);
          const error = { code: wrapped.code, message: wrapped.message };
          const round: Round = { ...createRound(text), ...(roundId ? { id: roundId } : {}), state: "failed" };
          if (!terminal) {
            if (!roundId)
              record(recordValue.id, run, {
                type: "round-start",
                sessionId: recordValue.id,
                roundId: round.id,
                userQuery: text,
              });
            record(recordValue.id, run, {
              type: "round-error",
              sessionId: recordValue.id,
              roundId: round.id,
              error,
              round,
            });
          }
          finish({ round, error });
        },
      );
      return run;
    },

    /** Interrupts the running round; false when none runs. */
    async interrupt(sessionId: string): Promise<boolean> {
      const run = runs.get(sessionId);
      const entry = live.get(sessionId);
      if (!run || run.finished || !entry) return false;
      await entry.session.interrupt();
      return true;
    },

    /** Stops the session's kernel, forgets it, and removes its files. */
    async delete(recordValue: SessionRecord): Promise<void> {
      const run = runs.get(recordValue.id);
      if (run) {
        await this.interrupt(recordValue.id).catch(() => false);
        await Promise.race([run.done, delay(10_000)]);
      }
      await stopLive(recordValue.id);
      store.deleteSession(recordValue.id);
      const directory = recordValue.workingDirectory;
      // Remove the session's folder only when it has the layout we expect
      // (<workspace>/sessions/<id>/cwd); otherwise only the working directory itself.
      const sessionFolder =
        basename(directory) === "cwd" && basename(dirname(directory)) === recordValue.id
          ? dirname(directory)
          : directory;
      await rm(sessionFolder, { recursive: true, force: true }).catch((error: unknown) =>
        log(`removing the files of session ${recordValue.id} failed`, error),
      );
    },

    /**
     * The session's files, uploads and what its code wrote, recursively. With remote kernels
     * the code's files live on the server and are listed through the session's executor (its
     * kernel starts if it is stopped); uploads not yet handed to a round are still on this host.
     */
    async listFiles(recordValue: SessionRecord): Promise<FileEntry[]> {
      const host = await listFiles(recordValue.workingDirectory);
      const executor = await remoteExecutor(recordValue);
      if (!executor) return host;
      const remote = (await executor.listFiles()).map((file) => ({
        name: file.name,
        size: file.size,
        modified_at: file.modifiedAt,
      }));
      const names = new Set(remote.map((file) => file.name));
      return [...remote, ...host.filter((file) => !names.has(file.name))].sort((a, b) => a.name.localeCompare(b.name));
    },

    /**
     * One file of the session: a host path (local and Docker kernels, and uploads), or the bytes
     * read through the executor (files written by remote kernels).
     */
    async findFile(
      recordValue: SessionRecord,
      name: string,
    ): Promise<{ path: string; size: number } | { data: Uint8Array; size: number }> {
      const executor = await remoteExecutor(recordValue);
      if (executor) {
        try {
          const data = await executor.downloadFile(name);
          return { data, size: data.byteLength };
        } catch (error) {
          // Not on the server: maybe an upload that is still only on this host.
          if (!(TaskWeaverError.isInstance(error) && error.code === "file_not_found")) throw error;
        }
      }
      return findFile(recordValue.workingDirectory, name);
    },

    /** Stops kernels idle for longer than the limit (the sweeper calls this; exposed for tests). */
    stopIdleSessions,

    /** The number of sessions holding a kernel. */
    get liveCount() {
      return live.size;
    },

    /**
     * Takes no new rounds, lets running rounds finish within the grace period, interrupts the
     * rest, marks what still runs as failed, and stops every kernel.
     */
    async shutdown(gracePeriodMs = limits.shutdownGracePeriodMs): Promise<void> {
      draining = true;
      clearInterval(sweeper);
      const running = () => [...runs.values()].map((run) => run.done);
      await Promise.race([Promise.all(running()), delay(gracePeriodMs)]);
      if (runs.size > 0) {
        await Promise.all(
          [...runs.keys()].map((id) =>
            live
              .get(id)
              ?.session.interrupt()
              .catch(() => {}),
          ),
        );
        await Promise.race([Promise.all(running()), delay(Math.min(5_000, Math.max(gracePeriodMs, 1_000)))]);
      }
      for (const [sessionId, run] of runs) {
        store.failUnfinishedRounds(SHUTDOWN_ERROR, sessionId);
        const round: Round = { ...createRound(""), state: "failed" };
        const started = run.events.find((item) => item.event.type === "round-start")?.event;
        if (started?.type === "round-start")
          Object.assign(round, { id: started.roundId, user_query: started.userQuery });
        const roundFromStore = store.listRounds(sessionId).find((stored) => stored.id === round.id);
        if (roundFromStore) round.post_list = roundFromStore.post_list;
        record(sessionId, run, {
          type: "round-error",
          sessionId,
          roundId: round.id,
          error: SHUTDOWN_ERROR,
          round,
        });
        run.finish({ round, error: SHUTDOWN_ERROR });
      }
      runs.clear();
      await Promise.all([...live.keys()].map((id) => stopLive(id)));
    },
  };
}

function lastErrorEvent(run: RoundRun): { code: string; message: string } | undefined {
  for (let index = run.events.length - 1; index >= 0; index -= 1) {
    const event = run.events[index]!.event;
    if (event.type === "round-error") return event.error;
  }
  return undefined;
}

function delay(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds).unref());
}

export type SessionManager = ReturnType<typeof createSessionManager>;
