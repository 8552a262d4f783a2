import { readFile, rm } from "node:fs/promises";
import { basename, dirname } from "node:path";
import {
  FileAccessError,
  type ApproveExecution,
  type ExecutionApprovalDecision,
  addUsage,
  createRound,
  toTaskWeaverError,
  type CodeExecutor,
  type MessageFile,
  type Round,
  type RoundUsage,
  type SessionSnapshotSummary,
  type TaskWeaverEvent,
} from "@taskweaver/core";
import { ApiError } from "./errors.js";
import { findFile, listFiles, type FileEntry } from "./files.js";
import { EventRecorder } from "./event-recorder.js";
import { RoundRun, type RoundError, type RoundOutcome } from "./round-run.js";
import type { HostedSession, SessionHost } from "./session-host.js";
import type { SessionKernels } from "./session-kernels.js";
import type {
  AnswerApprovalResult,
  ApprovalAnswer,
  SessionRecord,
  SessionStore,
  StoredEvent,
  Unsubscribe,
} from "./store/session-store.js";

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
  /**
   * A round whose instance has not renewed its lease for this long is failed as `instance_lost`
   * by another instance (`api.instance_lost_timeout`, seconds); the lease is renewed every third of it.
   * @default 15 s
   */
  instanceLostTimeoutMs: number;
}

/** What a session looks like in API answers. */
export interface SessionView {
  id: string;
  created_at: string;
  roles: string[];
  /** `idle`: kernel ready; `running`: a round is running; `stopped`: no kernel, the next message starts one. */
  state: "idle" | "running" | "stopped";
  /**
   * The app's plugins and whether each loaded into the session's kernel on this instance (empty
   * until a kernel has started here); a plugin that did not load says why.
   */
  plugins: { name: string; loaded: boolean; error?: string }[];
}

/** A session's running kernel in API answers (`GET /sessions/{id}`). */
export interface KernelView {
  kind: string;
  /** Forked from the fork template rather than spawned. */
  forked: boolean;
  memory?: { pss_bytes: number; uss_bytes: number; rss_bytes: number };
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
  /** This process's name in round leases and commands. @default `<hostname>-<pid>-<random>` */
  instanceId?: string;
  /**
   * Remote kernels kept with their sessions (kernel mode `remote`, see `createRemoteSessionKernels`).
   * Without it a session revived on this instance gets a new kernel and the fresh-kernel note.
   * @default none
   */
  kernels?: SessionKernels;
  /**
   * How often a round waiting for approval looks in the store for an answer given on another
   * instance (an answer given on this instance releases it at once).
   * @default 250
   */
  approvalPollIntervalMs?: number;
}

interface LiveSession {
  session: HostedSession;
  lastActiveAt: number;
  /**
   * The session's last event number when this process last brought the session up to date: a
   * higher number in the store means another instance ran a round since, and the live session's
   * history (and, for local kernels, its kernel) is stale.
   */
  seenSeq: number;
}

const SHUTDOWN_ERROR: RoundError = {
  code: "server_shutdown",
  message: "The server shut down before the round finished.",
};
const RESTART_ERROR: RoundError = {
  code: "server_restarted",
  message: "The server stopped while this round was running.",
};
const INSTANCE_LOST_ERROR: RoundError = {
  code: "instance_lost",
  message: "The API instance running this round stopped answering; the round was abandoned.",
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
  /** Sessions whose kernel is being stopped (and its state saved), by id. */
  private readonly stopping = new Map<string, Promise<void>>();
  private readonly runs = new Map<string, RoundRun>();
  private readonly events: EventRecorder;
  private readonly sweeper: NodeJS.Timeout;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly lostRoundSweeper: NodeJS.Timeout;
  private readonly commands: Promise<Unsubscribe | undefined>;
  private readonly kernels: SessionKernels | undefined;
  /** Rounds of this instance waiting for approval, by `<sessionId>/<approvalId>`: the fast path of a local answer. */
  private readonly approvalWaiters = new Map<string, (answer: ApprovalAnswer) => void>();
  private readonly approvalPollIntervalMs: number;
  /** This process's name in round leases and commands. */
  readonly instanceId: string;
  private drainingValue = false;

  constructor(options: SessionManagerOptions) {
    this.taskWeaver = options.taskWeaver;
    this.store = options.store;
    this.limits = options.limits;
    this.now = options.now ?? Date.now;
    this.log = options.log ?? (() => {});
    this.events = new EventRecorder(options.store, this.log);
    this.kernels = options.kernels;
    this.approvalPollIntervalMs = options.approvalPollIntervalMs ?? 250;
    this.instanceId = options.instanceId ?? `api-${process.pid}-${Math.random().toString(16).slice(2, 10)}`;
    const store = options.store;
    const startedAt = new Date(this.now());
    // Rounds of a live instance keep running; a lease that lapses later is the sweeper's.
    this.ready = (async () => {
      await store.failRoundsWithoutLease(RESTART_ERROR, startedAt);
    })();
    // Reported by every operation that waits for it; this only keeps it from being unhandled.
    this.ready.catch((error: unknown) =>
      this.log("marking the rounds of an earlier process as failed did not work", error),
    );
    const sweepEvery = Math.max(50, Math.min(this.limits.sessionIdleTimeoutMs / 2, 30_000));
    this.sweeper = setInterval(() => void this.stopIdleSessions(), sweepEvery);
    this.sweeper.unref();
    const leaseMs = this.limits.instanceLostTimeoutMs;
    this.heartbeat = setInterval(() => void this.renewLeases(), Math.max(50, leaseMs / 3));
    this.heartbeat.unref();
    this.lostRoundSweeper = setInterval(
      () => void this.recoverLostInstances(),
      Math.max(50, Math.min(leaseMs / 10, 2_000)),
    );
    this.lostRoundSweeper.unref();
    this.commands = this.ready
      .then(() => store.onCommand(this.instanceId, (command) => void this.onCommand(command)))
      .catch((error: unknown) => {
        this.log("listening for commands from other instances did not work", error);
        return undefined;
      });
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
      plugins: (this.live.get(record.id)?.session.plugins ?? []).map(({ name, loaded, error }) =>
        error === undefined ? { name, loaded } : { name, loaded, error },
      ),
    };
  }

  /** The session's kernel on this instance, with its memory read now; undefined when none runs here. */
  async kernel(sessionId: string): Promise<KernelView | undefined> {
    const kernel = await this.live.get(sessionId)?.session.describeKernel?.();
    if (!kernel) return undefined;
    const { memory } = kernel;
    return {
      kind: kernel.kind,
      forked: kernel.details.start === "fork",
      ...(memory ? { memory: { pss_bytes: memory.pssBytes, uss_bytes: memory.ussBytes, rss_bytes: memory.rssBytes } } : {}),
    };
  }

  /** Like {@link view}, and `running` too when the round runs on another instance. */
  async describe(record: SessionRecord): Promise<SessionView> {
    const view = this.view(record);
    if (view.state === "running") return view;
    const lease = await this.store.getRoundLease(record.id);
    return lease && lease.expiresAt.getTime() > this.now() ? { ...view, state: "running" } : view;
  }

  /** Sessions visible to `owner` (`undefined`: all). */
  async list(owner: string | null | undefined): Promise<SessionView[]> {
    return Promise.all((await this.store.listSessions(owner)).map((record) => this.describe(record)));
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
    this.live.set(session.id, { session, lastActiveAt: this.now(), seenSeq: 0 });
    return this.view(record);
  }

  /** What each stored round used (from its `round-end` / `round-error` event), and their sum. */
  async usage(sessionId: string): Promise<{ rounds: Map<string, RoundUsage>; total: RoundUsage }> {
    const rounds = new Map<string, RoundUsage>();
    for (const { event } of await this.store.listEvents(sessionId, 0)) {
      if ((event.type === "round-end" || event.type === "round-error") && event.usage) rounds.set(event.roundId, event.usage);
    }
    return { rounds, total: addUsage([...rounds.values()]) };
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
    let leased = false;
    let entry: LiveSession;
    let files: MessageFile[];
    try {
      // A lease left behind (expired, or the acquire below fails) means a lost instance's round.
      const previous = await this.store.getRoundLease(record.id);
      // The lease makes the round this instance's alone, whichever instance the next message reaches.
      leased = await this.store.acquireRoundLease(
        record.id,
        this.instanceId,
        this.limits.instanceLostTimeoutMs,
      );
      if (!leased) {
        // Held by another instance, or by one that stopped (killed, crashed) without giving it up.
        throw new ApiError(
          409,
          "round_in_progress",
          "A round is already running in this session on another instance; wait for it or interrupt it. " +
            `If that instance stopped, its round is given up ${Math.round(this.limits.instanceLostTimeoutMs / 1000)} s after it was last heard from (api.instance_lost_timeout), and the session takes messages again.`,
        );
      }
      // Taken over from a lost instance before the sweeper saw it: fail what it left unfinished.
      if (previous) await this.failLostRounds(record);
      files = await readAttachments(record.workingDirectory, fileNames);
      entry = await this.ensureCurrent(record);
      await this.recordKernel(record.id);
    } catch (error) {
      this.runs.delete(record.id);
      if (leased) await this.releaseLease(record.id);
      throw error;
    }
    entry.lastActiveAt = this.now();
    await this.runRound(record.id, entry, run, message, files);
    return run;
  }

  /**
   * Interrupts the running round, here or on the instance running it; false when none runs.
   */
  async interrupt(sessionId: string): Promise<boolean> {
    const run = this.runs.get(sessionId);
    if (run) {
      if (run.finished) return false;
      const entry = this.live.get(sessionId);
      // Reserved but not begun (its lease, history and kernel are still being set up).
      if (!run.begun || !entry) {
        run.interruptRequested = true;
        return true;
      }
      await entry.session.interrupt();
      return true;
    }
    return (await this.store.sendCommand(sessionId, "interrupt")) !== undefined;
  }

  /**
   * Answers an approval request of the session's round, whichever instance runs it: the answer
   * is stored (exactly one answer counts), and a round waiting here is released at once; one
   * running elsewhere finds it when it next looks.
   */
  async answerApproval(sessionId: string, approvalId: string, answer: ApprovalAnswer): Promise<AnswerApprovalResult> {
    const result = await this.store.answerApproval(sessionId, approvalId, answer);
    if (result === "answered") this.approvalWaiters.get(`${sessionId}/${approvalId}`)?.(answer);
    return result;
  }

  /**
   * The approver of the rounds this instance runs: waits until the request is answered (through
   * {@link answerApproval} on any instance). The core bounds the wait
   * (`code_interpreter.confirmation_timeout`) and aborts it when the round stops.
   */
  private approver(sessionId: string): ApproveExecution {
    return (request) =>
      new Promise<ExecutionApprovalDecision>((resolve) => {
        const key = `${sessionId}/${request.approvalId}`;
        let timer: NodeJS.Timeout | undefined;
        let settled = false;
        const settle = (decision: ExecutionApprovalDecision) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          request.signal.removeEventListener("abort", onAbort);
          if (this.approvalWaiters.get(key) === settle) this.approvalWaiters.delete(key);
          resolve(decision);
        };
        const onAbort = () => {
          // Stopped or timed out: a later answer is refused. The core no longer reads this decision.
          void this.store
            .closeApproval(sessionId, request.approvalId)
            .catch((error: unknown) => this.log(`closing approval ${request.approvalId} failed`, error));
          settle({ decision: "reject", reason: "The round stopped waiting." });
        };
        const poll = async () => {
          try {
            const stored = await this.store.readApproval(sessionId, request.approvalId);
            if (stored?.state === "answered" && stored.answer) settle(stored.answer);
          } catch (error) {
            this.log(`reading approval ${request.approvalId} of session ${sessionId} failed`, error);
          }
          if (!settled) timer = setTimeout(() => void poll(), this.approvalPollIntervalMs);
        };
        this.approvalWaiters.set(key, settle);
        request.signal.addEventListener("abort", onAbort, { once: true });
        if (request.signal.aborted) onAbort();
        else timer = setTimeout(() => void poll(), this.approvalPollIntervalMs);
      });
  }

  /**
   * Follows the session's round when it runs on another instance: its events from the store
   * after `afterSeq`, as they are committed, until its last one (or until no instance holds the
   * session's lease any more). A round running here is followed in memory instead. Ends at once
   * when no round runs anywhere.
   */
  async *followRound(sessionId: string, afterSeq: number, signal?: AbortSignal): AsyncGenerator<StoredEvent> {
    let last = afterSeq;
    for (;;) {
      const local = this.runs.get(sessionId);
      if (local) {
        yield* local.follow(last, signal);
        return;
      }
      const leased = (await this.store.getRoundLease(sessionId)) !== undefined;
      for (const item of await this.store.listEvents(sessionId, last)) {
        yield item;
        last = item.seq;
        if (item.event.type === "round-end" || item.event.type === "round-error") return;
      }
      // An expired lease still means a round to wait for: the instance that notices the loss
      // records its `round-error` before releasing it.
      if (!leased || signal?.aborted) return;
      await this.store.waitForEvents(sessionId, last, { timeoutMs: 1_000, ...(signal ? { signal } : {}) });
      if (signal?.aborted) return;
    }
  }

  /** Stops the session's kernel, forgets it, and removes its files (asking the instance running its round first). */
  async delete(record: SessionRecord): Promise<void> {
    const run = this.runs.get(record.id);
    if (run) {
      await this.interrupt(record.id).catch(() => false);
      await Promise.race([run.done, delay(10_000)]);
    } else if ((await this.store.sendCommand(record.id, "delete").catch(() => undefined)) !== undefined) {
      // The holder interrupts its round and lets go of its kernel; wait for it to release the lease.
      const deadline = this.now() + 10_000;
      while (this.now() < deadline) {
        const lease = await this.store.getRoundLease(record.id);
        if (!lease || lease.expiresAt.getTime() <= this.now()) break;
        await delay(100);
      }
    }
    await this.stopLive(record.id);
    const stored = (await this.store.getSession(record.id))?.kernel ?? record.kernel;
    if (stored && this.kernels) {
      await this.kernels
        .remove(stored)
        .catch((error: unknown) =>
          this.log(`deleting the remote kernel of session ${record.id} failed`, error),
        );
    }
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

  /**
   * Saves the session's kernel state now (`POST .../snapshot`); the kernel keeps running and the
   * session's next kernel restores it. 409 while a round runs (here or on another instance) or
   * when the session has no kernel running on this instance.
   */
  async snapshot(record: SessionRecord): Promise<SessionSnapshotSummary> {
    this.refuseWhileDraining();
    const lease = await this.store.getRoundLease(record.id);
    if (this.runs.has(record.id) || (lease && lease.expiresAt.getTime() > this.now())) {
      throw new ApiError(409, "round_in_progress", "A round is running in this session; save its state when it has finished.");
    }
    const entry = this.live.get(record.id);
    if (!entry?.session.saveSnapshot) {
      throw new ApiError(
        409,
        "snapshot_unavailable",
        "The session has no running kernel here; its state was saved when its kernel stopped.",
      );
    }
    entry.lastActiveAt = this.now();
    try {
      return await entry.session.saveSnapshot();
    } catch (error) {
      const wrapped = toTaskWeaverError(error);
      if (wrapped.code === "round_in_progress" || wrapped.code === "snapshot_unavailable")
        throw new ApiError(409, wrapped.code, wrapped.message, { cause: error });
      throw wrapped;
    }
  }

  /** Stops kernels idle for longer than the limit, saving their state (the sweeper calls this; exposed for tests). */
  async stopIdleSessions(): Promise<void> {
    const cutoff = this.now() - this.limits.sessionIdleTimeoutMs;
    for (const [id, entry] of this.live) {
      if (!this.runs.has(id) && entry.lastActiveAt <= cutoff)
        await this.stopLive(id, { removeKernel: true, saveSnapshot: true });
    }
  }

  /**
   * Takes no new rounds, lets running rounds finish within the grace period, interrupts the
   * rest, marks what still runs as failed, and stops every kernel.
   */
  async shutdown(gracePeriodMs = this.limits.shutdownGracePeriodMs): Promise<void> {
    this.drainingValue = true;
    clearInterval(this.sweeper);
    clearInterval(this.lostRoundSweeper);
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
    clearInterval(this.heartbeat);
    await (await this.commands)?.().catch(() => {});
    // Remote kernels stay on the server (stopping only disconnects): the next instance attaches
    // and drops the snapshot. It is saved for every kernel anyway: a remote one may be gone by then.
    await Promise.all([...this.live.keys()].map((id) => this.stopLive(id, { saveSnapshot: true })));
  }

  /** The heartbeat: keeps the leases of the rounds running here. */
  private async renewLeases(): Promise<void> {
    if (this.runs.size === 0) return;
    try {
      const held = new Set(await this.store.renewLeases(this.instanceId, this.limits.instanceLostTimeoutMs));
      for (const sessionId of this.runs.keys()) {
        if (!held.has(sessionId)) this.log(`session ${sessionId}: this instance lost the round's lease`);
      }
    } catch (error) {
      this.log("renewing the round leases failed", error);
    }
  }

  /**
   * Rounds whose instance stopped renewing its lease: take the lease (only one instance wins),
   * record the round failed as `instance_lost`, give the lease back.
   */
  private async recoverLostInstances(): Promise<void> {
    if (this.drainingValue) return;
    try {
      await this.ready;
      for (const lease of await this.store.listExpiredLeases(new Date(this.now()))) {
        if (this.runs.has(lease.sessionId)) continue;
        if (
          !(await this.store.acquireRoundLease(
            lease.sessionId,
            this.instanceId,
            this.limits.instanceLostTimeoutMs,
          ))
        )
          continue;
        try {
          const record = await this.store.getSession(lease.sessionId);
          if (record) await this.failLostRounds(record);
        } finally {
          await this.releaseLease(lease.sessionId);
        }
      }
    } catch (error) {
      this.log("looking for rounds of lost instances failed", error);
    }
  }

  /**
   * Fails the session's unfinished rounds as `instance_lost` (the caller holds the lease, so they
   * ran on a lost instance): a `round-error` in the event log for their followers, the posts so
   * far kept. A remote kernel still busy with such a round is interrupted first.
   */
  private async failLostRounds(record: SessionRecord): Promise<void> {
    const unfinished = (await this.store.listRounds(record.id)).filter((round) => round.finishedAt === null);
    if (unfinished.length === 0) return;
    if (record.kernel && this.kernels) {
      await this.kernels
        .interrupt(record.kernel)
        .catch((error: unknown) => this.log(`interrupting the kernel of session ${record.id} failed`, error));
    }
    for (const stored of unfinished) {
      const round: Round = {
        id: stored.id,
        user_query: stored.user_query,
        state: "failed",
        post_list: stored.post_list,
      };
      await this.store.appendEvent(record.id, {
        type: "round-error",
        sessionId: record.id,
        roundId: round.id,
        error: INSTANCE_LOST_ERROR,
        round,
      });
      await this.store.finishRound(record.id, round, INSTANCE_LOST_ERROR);
    }
  }

  /**
   * Records the remote kernel this instance uses for the session as the session's kernel, while
   * holding its lease (so no other instance writes it at the same time).
   */
  private async recordKernel(sessionId: string): Promise<void> {
    const mine = this.kernels?.current(sessionId);
    if (!mine) return;
    try {
      const stored = (await this.store.getSession(sessionId))?.kernel;
      if (stored?.kernelId !== mine.kernelId || stored.serverUrl !== mine.serverUrl)
        await this.store.setSessionKernel(sessionId, mine);
    } catch (error) {
      this.log(`recording the kernel of session ${sessionId} failed`, error);
    }
  }

  private async releaseLease(sessionId: string): Promise<void> {
    await this.store
      .releaseRoundLease(sessionId, this.instanceId)
      .catch((error: unknown) => this.log(`releasing the round lease of session ${sessionId} failed`, error));
  }

  /** What another instance asks of the round running here. */
  private async onCommand(command: { sessionId: string; command: "interrupt" | "delete" }): Promise<void> {
    try {
      const run = this.runs.get(command.sessionId);
      if (run) {
        await this.live.get(command.sessionId)?.session.interrupt();
        if (command.command === "delete") await Promise.race([run.done, delay(10_000)]);
      }
      if (command.command === "delete") await this.stopLive(command.sessionId);
    } catch (error) {
      this.log(`the ${command.command} command for session ${command.sessionId} failed`, error);
    }
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
      run.begun = true;
      began();
      void this.events.record(sessionId, run, event);
    };
    const finish = async (outcome: RoundOutcome) => {
      await this.events.flush(sessionId);
      entry.lastActiveAt = this.now();
      entry.seenSeq = await this.store.lastEventSeq(sessionId).catch(() => Number.NaN);
      await this.recordKernel(sessionId);
      if (this.runs.get(sessionId) === run) this.runs.delete(sessionId);
      await this.releaseLease(sessionId);
      run.finish(outcome);
    };
    const sending = entry.session.sendMessage(message, {
      onEvent,
      approveExecution: this.approver(sessionId),
      ...(files.length > 0 ? { files } : {}),
    });
    const settled = sending.then(
      (round) => ({ round }),
      (reason: unknown) => ({ reason }),
    );
    const first = await Promise.race([begun.then(() => undefined), settled]);
    if (first && "reason" in first && !started) {
      this.runs.delete(sessionId);
      await this.releaseLease(sessionId);
      const wrapped = toTaskWeaverError(first.reason);
      throw new ApiError(409, wrapped.code, wrapped.message, { cause: first.reason });
    }
    if (run.interruptRequested) await entry.session.interrupt();
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
    await this.releaseLease(sessionId);
    run.finish({ round, error: SHUTDOWN_ERROR });
  }

  /**
   * Stops the live session. A remote kernel stays on the server for a later attach, unless
   * `removeKernel` and this instance was the last to use it (no round elsewhere since) or it is
   * not the session's recorded kernel (an orphan).
   */
  private async stopLive(id: string, options: { removeKernel?: boolean; saveSnapshot?: boolean } = {}): Promise<void> {
    const entry = this.live.get(id);
    if (!entry) return;
    this.live.delete(id);
    const stopped = this.stopEntry(id, entry, options);
    // A session revived meanwhile waits: its kernel must find the snapshot this one is saving.
    const settled = stopped.catch(() => undefined).finally(() => {
      if (this.stopping.get(id) === settled) this.stopping.delete(id);
    });
    this.stopping.set(id, settled);
    await stopped;
  }

  private async stopEntry(
    id: string,
    entry: LiveSession,
    options: { removeKernel?: boolean; saveSnapshot?: boolean },
  ): Promise<void> {
    try {
      await entry.session.stop({ saveSnapshot: options.saveSnapshot === true });
      const saved = entry.session.lastSnapshotSave;
      if (options.saveSnapshot && saved && !("saved" in saved))
        this.log(`saving the kernel state of session ${id} failed`, saved);
    } catch (error) {
      this.log(`stopping the kernel of session ${id} failed`, error);
    }
    const mine = this.kernels?.current(id);
    if (!this.kernels || !mine) return;
    try {
      const record = await this.store.getSession(id);
      const orphan = record?.kernel?.kernelId !== mine.kernelId;
      const current =
        !orphan &&
        (await this.store.lastEventSeq(id)) === entry.seenSeq &&
        (await this.store.getRoundLease(id)) === undefined;
      if (orphan || (options.removeKernel && current)) {
        await this.kernels.remove(mine);
        if (!orphan) await this.store.setSessionKernel(id, null);
      }
    } catch (error) {
      this.log(`removing the remote kernel of session ${id} failed`, error);
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
    await this.stopLive(idle[0], { removeKernel: true, saveSnapshot: true });
  }

  /**
   * The live session, brought up to date: when another instance ran a round since this one last
   * did, the live session's history is stale and it is opened anew from the store (a remote
   * kernel is attached again; a local one is replaced, with the fresh-kernel note).
   */
  private async ensureCurrent(record: SessionRecord): Promise<LiveSession> {
    const existing = this.live.get(record.id);
    if (existing && existing.seenSeq !== (await this.store.lastEventSeq(record.id))) {
      await this.stopLive(record.id);
    }
    return this.ensureLive(record);
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
    await this.stopping.get(record.id);
    await this.makeRoom();
    const seenSeq = await this.store.lastEventSeq(record.id);
    const rounds = (await this.store.listRounds(record.id)).map(
      ({ id, user_query, state, post_list }): Round => ({ id, user_query, state, post_list }),
    );
    const kernel = (await this.store.getSession(record.id))?.kernel ?? record.kernel;
    const attach =
      kernel !== undefined &&
      this.kernels !== undefined &&
      (await this.kernels.exists(kernel).catch((error: unknown) => {
        this.log(`looking up the remote kernel of session ${record.id} failed`, error);
        return false;
      }));
    if (attach) this.kernels!.attachNext(record.id, kernel!);
    const note =
      rounds.length > 0 && !attach
        ? describeFreshKernel((await listFiles(record.workingDirectory, 100)).map((file) => file.name))
        : undefined;
    const session = await this.taskWeaver.createSession({
      sessionId: record.id,
      rounds,
      ...(note ? { note } : {}),
      // An attached kernel kept its state, newer than any snapshot of it.
      ...(attach ? { restoreSnapshot: false } : {}),
    });
    const entry: LiveSession = { session, lastActiveAt: this.now(), seenSeq };
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
