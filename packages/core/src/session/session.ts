import { readFile, rename, rm, stat } from "node:fs/promises";
import { basename } from "node:path";
import { AbortedError, RoundLimitExceededError, TaskWeaverError, toTaskWeaverError } from "../errors.js";
import type { CodeExecutor, ExecutorFactory, ExecutorInfo, ExecutorMemory, PluginStatus } from "../executor/contract.js";
import { samePluginStatuses } from "../plugins/plugin-status.js";
import { createPost, createRound } from "../memory/factories.js";
import type { SavedExperience } from "../experience/save-experience.js";
import type { IdGenerator } from "../memory/ids.js";
import type { Post, Round } from "../memory/types.js";
import { createApprovalRequester, type ApprovalRoleContext, type ApproveExecution } from "../roles/approval.js";
import { PostBuilder } from "../roles/post-builder.js";
import type { Role } from "../roles/role.js";
import type { EventListener, TaskWeaverEvent } from "../events/types.js";
import { addUsage, summarizeRoundUsage, type RoleModelCall, type RoundUsage } from "../usage/round-usage.js";
import { runWithModelCallSink } from "../usage/usage-scope.js";
import { traceKernelStart, traceRoleReply, traceRound } from "../tracing/agent-spans.js";
import type { StopCondition } from "./stop-conditions.js";
import {
  describeRestore,
  encodeSnapshotFile,
  readSnapshotFile,
  writeFileAtomically,
  type SessionSnapshotSummary,
} from "./snapshot.js";

/** A file attached to a message: copied into the working directory before the round starts. */
export type MessageFile = { name: string; path: string } | { name: string; data: Uint8Array };

export interface SendMessageOptions {
  /** Receives every event of the round as it happens. */
  onEvent?: EventListener;
  /** Aborting stops the round: the model call is cancelled and running code interrupted. */
  signal?: AbortSignal;
  files?: readonly MessageFile[];
  /**
   * Decides whether code that needs approval runs, for this round (`code_interpreter.require_confirmation`,
   * or a plugin with `requires_confirmation`). @default the session's
   */
  approveExecution?: ApproveExecution;
}

export interface SessionInit {
  id: string;
  workingDirectory: string;
  /** Roles of the session; the first is where user messages go when there is no Planner. */
  roles: readonly Role[];
  /** Alias of the role that receives user messages. */
  entryRole: string;
  stopConditions: readonly StopCondition[];
  executorFactory: ExecutorFactory;
  /** Runs once on every new executor after it started (e.g. loads plugins). */
  prepareExecutor?: (executor: CodeExecutor) => Promise<void>;
  /** Which plugins the executor has usable now; read after preparing and after each reply. */
  pluginStatuses?: (executor: CodeExecutor) => PluginStatus[];
  generateId: IdGenerator;
  /** Rounds restored from storage (kept as they are). */
  rounds?: readonly Round[];
  /** Prepended once to the next user message, e.g. to say a restored kernel lost its variables. */
  pendingNote?: string;
  /** Called once when the session is stopped. */
  onStopped?: () => void | Promise<void>;
  /** Saves finished rounds as experience (`/save`). */
  saveExperience?: (rounds: readonly Round[]) => Promise<SavedExperience>;
  /** Decides on code that needs approval; without it such code is rejected, never run. */
  approveExecution?: ApproveExecution;
  /** How long a round waits for an approval decision (`code_interpreter.confirmation_timeout`). @default 300000 */
  confirmationTimeoutMs?: number;
  /** Put prompts, answers, code and output on the trace spans (`tracing.record_content`). @default false */
  traceContent?: boolean;
  /**
   * Kernel snapshots: where the session's snapshot file lives (its folder, outside the working
   * directory) and how much of the kernel's state it may hold
   * (`execution_service.snapshot_max_bytes`). The next kernel restores the file and the model
   * is told what came back. @default none: no snapshots
   */
  snapshot?: {
    path: string;
    maxBytes: number;
    /** `false`: the first kernel removes the snapshot instead of restoring it. @default true */
    restore?: boolean;
  };
}

/** Options of `Session.stop` and `Session.stopKernel`. */
export interface StopKernelOptions {
  /**
   * Save the kernel's state first (see `Session.saveSnapshot`), for the session's next kernel.
   * A save that fails does not keep the kernel from stopping. @default false
   */
  saveSnapshot?: boolean;
}

/**
 * A conversation with TaskWeaver: a memory of rounds, a set of roles and one Python kernel.
 * Rounds run one at a time.
 */
export class Session {
  readonly id: string;
  readonly workingDirectory: string;
  private readonly init: SessionInit;
  private readonly history: Round[];
  private readonly listeners = new Set<EventListener>();
  private executorPromise: Promise<CodeExecutor> | undefined;
  /** The started executor, once `executorPromise` has resolved. */
  private readyExecutor: CodeExecutor | undefined;
  private pluginStatusList: PluginStatus[] = [];
  /** The statuses last sent inside a round, so that a round's own events always tell them. */
  private pluginStatusInRounds: PluginStatus[] = [];
  /** Delivers an event to the running round's `onEvent` as well as to subscribers. */
  private roundEmit: ((event: TaskWeaverEvent) => void) | undefined;
  private runningRoundId: string | undefined;
  private running: { controller: AbortController; promise: Promise<Round> } | undefined;
  private stopped = false;
  private pendingNote: string | undefined;
  private readonly roundUsages = new Map<string, RoundUsage>();
  /** What the last restore of a snapshot gave, for frontends that show it. */
  lastSnapshotRestore: { note: string; error?: string } | undefined;
  /** The last save made while stopping the kernel, or why it failed. */
  lastSnapshotSave: SessionSnapshotSummary | TaskWeaverError | undefined;
  /** True while a new kernel restores the snapshot (the next round waits for its note). */
  private restoring = false;
  private snapshotDiscarded = false;
  /** The error that ended the last failed round. */
  lastError: TaskWeaverError | undefined;

  constructor(init: SessionInit) {
    this.init = init;
    this.id = init.id;
    this.workingDirectory = init.workingDirectory;
    this.history = [...(init.rounds ?? [])];
    this.pendingNote = init.pendingNote;
  }

  /** Role aliases, e.g. `["Planner", "CodeInterpreter"]`. */
  get roles(): string[] {
    return this.init.roles.map((role) => role.alias);
  }

  /** All rounds, failed ones included. */
  get rounds(): readonly Round[] {
    return this.history;
  }

  /**
   * The app's enabled plugins and whether each loaded into the session's kernel; empty until a
   * kernel has started. A plugin that did not load is left out of the prompts.
   */
  get plugins(): readonly PluginStatus[] {
    return this.pluginStatusList;
  }

  /**
   * What the rounds run by this session object used, summed (restored rounds have no figures).
   * Model calls count when made through the built-in model clients.
   */
  get usage(): RoundUsage {
    return addUsage([...this.roundUsages.values()]);
  }

  /** What one round used (also on its `round-end` / `round-error` event); `undefined` for a round not run here. */
  roundUsage(roundId: string): RoundUsage | undefined {
    return this.roundUsages.get(roundId);
  }

  get isRunning(): boolean {
    return this.running !== undefined;
  }

  /** Subscribes to the events of every round; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The session's kernel, created on first use and started once. */
  executor(): Promise<CodeExecutor> {
    this.executorPromise ??= (async () => {
      // A factory or plugin given by the library user may throw anything; callers get a TaskWeaverError.
      const executor = await Promise.resolve()
        .then(() => this.init.executorFactory({ sessionId: this.id, workingDirectory: this.workingDirectory }))
        .catch((error: unknown) => {
          throw toTaskWeaverError(error);
        });
      try {
        await traceKernelStart(this.id, executor.info.kind, async () => {
          await executor.start();
          await this.init.prepareExecutor?.(executor);
          await this.restoreSnapshot(executor);
        });
      } catch (error) {
        await executor.stop().catch(() => undefined);
        throw toTaskWeaverError(error);
      }
      this.readyExecutor = executor;
      this.refreshPluginStatuses();
      return executor;
    })();
    // A failed start is retried on next use rather than remembered forever.
    this.executorPromise.catch(() => {
      this.executorPromise = undefined;
    });
    return this.executorPromise;
  }

  /**
   * The session's kernel as `/info` shows it: its runtime, details (pid, Python, how it was
   * started) and, where the runtime can measure it, its memory now. Undefined while no kernel
   * has started; it never starts one.
   */
  async describeKernel(): Promise<(ExecutorInfo & { memory?: ExecutorMemory }) | undefined> {
    const executor = this.readyExecutor;
    if (!executor) return undefined;
    const memory = await executor.readMemory?.().catch(() => undefined);
    return { ...executor.info, ...(memory ? { memory } : {}) };
  }

  /** Emits `plugin-status` when what the kernel has loaded differs from what was last said. */
  private refreshPluginStatuses(): void {
    const executor = this.readyExecutor;
    if (!executor || !this.init.pluginStatuses) return;
    const next = this.init.pluginStatuses(executor);
    if (samePluginStatuses(this.pluginStatusList, next)) return;
    this.pluginStatusList = next;
    const event: TaskWeaverEvent = {
      type: "plugin-status",
      sessionId: this.id,
      ...(this.runningRoundId ? { roundId: this.runningRoundId } : {}),
      plugins: next,
    };
    if (this.roundEmit) {
      this.pluginStatusInRounds = next;
      this.roundEmit(event);
    } else this.notify(event);
  }

  private notify(event: TaskWeaverEvent, onEvent?: EventListener): void {
    for (const listener of [onEvent, ...this.listeners]) {
      if (!listener) continue;
      try {
        listener(event);
      } catch {
        // A broken listener must not break the round.
      }
    }
  }

  /** Starts the kernel in the background so the first execution does not wait for it. */
  warmUp(): void {
    this.executor().catch(() => {
      // Reported when the kernel is actually needed.
    });
  }

  async setSessionVariables(variables: Record<string, string>): Promise<void> {
    const executor = await this.executor();
    await executor.setSessionVariables(variables);
  }

  /**
   * Runs one round: the message goes to the Planner (or the only worker), roles reply until one
   * answers the User. Resolves with the round, `finished` or `failed`; the failure is in the
   * `round-error` event and in `lastError`.
   *
   * The events of a round always start with `round-start` and end with exactly one `round-end`
   * or `round-error`, whatever fails (an abort, the step limit, a role, the executor, a
   * throwing listener); nothing is emitted after it. The promise rejects only when no round
   * starts at all (`session_stopped`, `round_in_progress`), and then nothing is emitted.
   */
  sendMessage(message: string, options: SendMessageOptions = {}): Promise<Round> {
    if (this.stopped) {
      return Promise.reject(new TaskWeaverError("session_stopped", `Session ${this.id} has been stopped.`));
    }
    if (this.running) {
      return Promise.reject(
        new TaskWeaverError("round_in_progress", "A round is already running in this session; wait for it or interrupt it."),
      );
    }
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    if (options.signal?.aborted) controller.abort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const promise = traceRound(
      { sessionId: this.id, entryRole: this.init.entryRole, userQuery: message, recordContent: this.init.traceContent ?? false },
      () => this.runRound(message, options, controller.signal),
      (round) => ({ round, usage: this.roundUsages.get(round.id), error: round.state === "failed" ? this.lastError : undefined }),
    ).finally(() => {
      options.signal?.removeEventListener("abort", onAbort);
      this.running = undefined;
    });
    this.running = { controller, promise };
    return promise;
  }

  /** Stops the running round, like Ctrl-C: the model call is cancelled and the kernel interrupted. */
  async interrupt(): Promise<void> {
    const running = this.running;
    if (!running) return;
    running.controller.abort();
    await running.promise.catch(() => undefined);
  }

  /** Stops the kernel. The rounds stay readable. */
  async stop(options: StopKernelOptions = {}): Promise<void> {
    // Awaited last: what it frees (the session's MCP servers) may serve the round being interrupted.
    const stopped = this.stopped ? undefined : this.init.onStopped?.();
    this.stopped = true;
    await this.interrupt();
    const executorPromise = this.executorPromise;
    this.executorPromise = undefined;
    this.readyExecutor = undefined;
    if (executorPromise) {
      const executor = await executorPromise.catch(() => undefined);
      if (executor && options.saveSnapshot) await this.saveSnapshotQuietly(executor);
      await executor?.stop();
    }
    await stopped;
  }

  /**
   * Saves the picklable part of the kernel's state (variables, modules by name, functions where
   * the kernel has `dill`) to the session's snapshot file, replacing an older one; the kernel
   * keeps running. The session's next kernel restores it before its first round. Resolves with
   * `saved: false` when no kernel runs; rejects with `snapshot_unavailable` when the session has
   * no snapshot file or its executor cannot take snapshots, `round_in_progress` while a round runs.
   */
  async saveSnapshot(): Promise<SessionSnapshotSummary> {
    if (this.running) {
      throw new TaskWeaverError("round_in_progress", "A round is running; save the state when it has finished.");
    }
    const executor = await this.executorPromise?.catch(() => undefined);
    return this.saveSnapshotOf(executor);
  }

  private async saveSnapshotOf(executor: CodeExecutor | undefined): Promise<SessionSnapshotSummary> {
    const settings = this.init.snapshot;
    if (!settings || settings.maxBytes <= 0) {
      throw new TaskWeaverError(
        "snapshot_unavailable",
        "This session keeps no kernel snapshots (execution_service.snapshot_max_bytes is 0, or it has no session folder).",
      );
    }
    if (executor && !executor.saveSnapshot) {
      throw new TaskWeaverError("snapshot_unavailable", `The ${executor.info.kind} executor cannot take kernel snapshots.`);
    }
    const createdAt = new Date().toISOString();
    const snapshot = await executor?.saveSnapshot?.({ maxBytes: settings.maxBytes }).catch((error: unknown) => {
      throw new TaskWeaverError("snapshot_failed", `Saving the kernel's state failed: ${toTaskWeaverError(error).message}`, {
        cause: error,
      });
    });
    if (!snapshot) {
      return { saved: false, path: settings.path, bytes: 0, createdAt, serializer: "pickle", values: [], modules: [], lost: [] };
    }
    const file = encodeSnapshotFile(snapshot, createdAt);
    await writeFileAtomically(settings.path, file).catch((error: unknown) => {
      throw new TaskWeaverError("snapshot_failed", `Writing the snapshot ${settings.path} failed: ${(error as Error).message}`, {
        cause: error,
      });
    });
    return {
      saved: true,
      path: settings.path,
      bytes: file.byteLength,
      createdAt,
      serializer: snapshot.serializer,
      values: snapshot.saved,
      modules: snapshot.modules,
      lost: snapshot.lost,
    };
  }

  /** A save on the way to stopping: its failure is remembered, never thrown (the kernel stops anyway). */
  private async saveSnapshotQuietly(executor: CodeExecutor): Promise<void> {
    if (!this.init.snapshot || this.init.snapshot.maxBytes <= 0 || !executor.saveSnapshot) return;
    try {
      const summary = await this.saveSnapshotOf(executor);
      this.lastSnapshotSave = summary;
    } catch (error) {
      this.lastSnapshotSave = toTaskWeaverError(error);
    }
  }

  /**
   * Restores the session's snapshot into a new kernel and queues the note for the model. A
   * snapshot that cannot be used is kept beside as `<file>.corrupt`, reported, and the kernel
   * stays clean; nothing here throws.
   */
  private async restoreSnapshot(executor: CodeExecutor): Promise<void> {
    const settings = this.init.snapshot;
    if (!settings || !executor.restoreSnapshot) return;
    if (settings.restore === false && !this.snapshotDiscarded) {
      this.snapshotDiscarded = true;
      await rm(settings.path, { force: true }).catch(() => undefined);
      return;
    }
    this.restoring = true;
    try {
      await this.restoreSnapshotFile((payload) => executor.restoreSnapshot!(payload), settings.path);
    } finally {
      this.restoring = false;
    }
  }

  private async restoreSnapshotFile(
    restore: NonNullable<CodeExecutor["restoreSnapshot"]>,
    path: string,
  ): Promise<void> {
    const found = await readSnapshotFile(path);
    if (!found) return;
    let note: string;
    let failure: string | undefined;
    if ("error" in found) {
      failure = found.error;
      note = describeRestore({ restored: [], modules: [], lost: [], error: found.error }, undefined);
    } else {
      const result = await restore(found.file.payload).catch(
        (error: unknown): { restored: []; modules: []; lost: []; error: string } => ({
          restored: [],
          modules: [],
          lost: [],
          error: toTaskWeaverError(error).message,
        }),
      );
      failure = result.error;
      note = describeRestore(result, found.file.header.created_at);
    }
    // A snapshot is restored once; a bad one is kept for a look, out of the way of the next kernel.
    await (failure === undefined ? rm(path, { force: true }) : rename(path, `${path}.corrupt`)).catch(
      () => undefined,
    );
    this.lastSnapshotRestore = failure === undefined ? { note } : { note, error: failure };
    this.pendingNote = this.pendingNote ? `${this.pendingNote}\n${note}` : note;
  }

  /** Before a round: a snapshot on disk is restored (by starting the kernel) so the note goes with this message. */
  private async awaitSnapshotRestore(): Promise<void> {
    const settings = this.init.snapshot;
    if (!settings) return;
    if (!this.restoring && !(await stat(settings.path).then(() => true, () => false))) return;
    // A kernel that fails to start is reported when the round needs it.
    await this.executor().catch(() => undefined);
  }

  /**
   * Saves the session's finished rounds for experience (`/save` in the console): with
   * `<role>.use_experience` on, they are summarised into lessons for later requests.
   */
  async saveExperience(): Promise<SavedExperience> {
    if (!this.init.saveExperience) {
      throw new TaskWeaverError("experience_unavailable", "This session was created without an experience folder.");
    }
    return this.init.saveExperience(this.history).catch((error: unknown) => {
      throw toTaskWeaverError(error);
    });
  }

  /**
   * Stops the kernel but keeps the session usable: the next execution starts a fresh kernel
   * (which restores the snapshot, with `saveSnapshot`).
   */
  async stopKernel(options: StopKernelOptions = {}): Promise<void> {
    const executorPromise = this.executorPromise;
    this.executorPromise = undefined;
    this.readyExecutor = undefined;
    const executor = await executorPromise?.catch(() => undefined);
    if (executor && options.saveSnapshot) await this.saveSnapshotQuietly(executor);
    await executor?.stop();
  }

  private async runRound(message: string, options: SendMessageOptions, signal: AbortSignal): Promise<Round> {
    const { generateId } = this.init;
    let userQuery = message;
    const round = createRound(message, generateId);
    this.history.push(round);
    let ended = false;
    const emit = (event: TaskWeaverEvent) => {
      // A role that ignores the abort must not add events after the round's last one.
      if (ended) return;
      if (event.type === "round-end" || event.type === "round-error") ended = true;
      this.notify(event, options.onEvent);
    };
    const ids = { sessionId: this.id, roundId: round.id };
    const calls: RoleModelCall[] = [];
    const usageOfRound = () => {
      const usage = summarizeRoundUsage(calls, round);
      this.roundUsages.set(round.id, usage);
      return usage;
    };
    emit({ type: "round-start", ...ids, userQuery: message });
    this.roundEmit = emit;
    this.runningRoundId = round.id;
    // A kernel set up before this round (warm-up) told subscribers only; a frontend that follows
    // rounds (the API's event log) learns it here.
    if (!samePluginStatuses(this.pluginStatusList, this.pluginStatusInRounds)) {
      this.pluginStatusInRounds = this.pluginStatusList;
      emit({ type: "plugin-status", ...ids, plugins: this.pluginStatusList });
    }

    try {
      if (options.files && options.files.length > 0) {
        const names = await this.addFiles(options.files);
        userQuery = `files added: ${names.join(", ")}.\n${userQuery}`;
      }
      await this.awaitSnapshotRestore();
      if (this.pendingNote) {
        userQuery = `${this.pendingNote}\n${userQuery}`;
        this.pendingNote = undefined;
      }
      const userPost = createPost({ send_from: "User", send_to: this.init.entryRole, message: userQuery }, generateId);
      round.post_list.push(userPost);
      emit({ type: "post-start", ...ids, postId: userPost.id, role: "User" });
      emit({ type: "post-end", ...ids, post: userPost });

      const rolesByAlias = new Map(this.init.roles.map((role) => [role.alias, role]));
      const aliases = this.roles;
      const requestApproval = createApprovalRequester({
        emit,
        ...ids,
        approveExecution: options.approveExecution ?? this.init.approveExecution,
        timeoutMs: this.init.confirmationTimeoutMs ?? 300_000,
        generateId,
      });
      let current: Post = userPost;
      let internalSteps = 0;
      while (current.send_to !== "User") {
        if (signal.aborted) throw new AbortedError(stoppedMessage);
        for (const condition of this.init.stopConditions) {
          const error = condition({ round, internalSteps });
          if (error) throw error;
        }
        const role = rolesByAlias.get(current.send_to);
        if (!role) {
          throw new TaskWeaverError("unknown_role", `A message was sent to "${current.send_to}", which is not a role of this session.`);
        }
        const context: ApprovalRoleContext = {
          sessionId: this.id,
          rounds: [...this.history.filter((item) => item.state === "finished"), round],
          round,
          incoming: current,
          startPost: () => new PostBuilder(emit, ids, role.alias, generateId),
          signal,
          roleAliases: aliases,
          generateId,
          requestApproval,
        };
        // The role's model calls are counted to it, whichever model object it uses.
        const post = await traceRoleReply(role, this.id, current, () =>
          runWithModelCallSink(
            (report) => calls.push({ ...report, role: role.alias }),
            () => role.reply(context),
          ),
        );
        internalSteps += 1;
        round.post_list.push(post);
        // A restart inside the reply (timeout, dead kernel) may have loaded plugins differently.
        this.refreshPluginStatuses();
        if (signal.aborted) throw new AbortedError(stoppedMessage);
        current = post;
      }
      round.state = "finished";
      emit({ type: "round-end", ...ids, round, usage: usageOfRound() });
      return round;
    } catch (caught) {
      const error =
        signal.aborted && !RoundLimitExceededError.isInstance(caught)
          ? new AbortedError(stoppedMessage)
          : toTaskWeaverError(caught);
      round.state = "failed";
      this.lastError = error;
      emit({ type: "round-error", ...ids, error: { code: error.code, message: error.message }, round, usage: usageOfRound() });
      return round;
    } finally {
      this.roundEmit = undefined;
      this.runningRoundId = undefined;
    }
  }

  private async addFiles(files: readonly MessageFile[]): Promise<string[]> {
    const executor = await this.executor();
    const names: string[] = [];
    for (const file of files) {
      const data = "data" in file ? file.data : await readFile(file.path);
      const info = await executor.uploadFile(file.name || ("path" in file ? basename(file.path) : "file"), data);
      names.push(info.name);
    }
    return names;
  }
}

const stoppedMessage = "The round was stopped by the user. The session and its variables are kept.";
