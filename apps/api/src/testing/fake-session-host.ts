// A small stand-in for @taskweaver/core's app, for unit tests of the HTTP layer. It emits the
// same events in the same order as the core session, and its behaviour is steered by the
// message text. The end-to-end tests in test/e2e use the real core, executor and kernels.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AbortedError,
  ExecutorUnavailableError,
  TaskWeaverError,
  createPost,
  createRound,
  loadConfig,
  type AppConfig,
  type Round,
  type SendMessageOptions,
  type TaskWeaverEvent,
} from "@taskweaver/core";
import type { HostedSession, HostedSessionOptions, SessionHost } from "../session-host.js";
export { parseServerSentEvents as parseSse } from "../sse-parser.js";

export type FakeSessionHost = SessionHost & {
  readonly appDir: string;
  /** Every createSession call, in order. */
  readonly createCalls: HostedSessionOptions[];
  /** Messages as the fake session received them (after the note). */
  readonly messages: string[];
  readonly stoppedSessions: string[];
  remove(): void;
};

/**
 * Message commands: `slow` runs until interrupted (or 3 s), `fail` fails the round, `write NAME`
 * writes NAME into the working directory, `throw` fails the round as a kernel that cannot start
 * does (`executor_unavailable`), `reject` rejects before any event, as the core does for a
 * session it cannot run a round in.
 */
export function createFakeSessionHost(overrides: Record<string, unknown> = {}): FakeSessionHost {
  const appDir = mkdtempSync(join(tmpdir(), "tw-api-unit-"));
  writeFileSync(join(appDir, "taskweaver_config.json"), "{}");
  const config: AppConfig = loadConfig({ appDir, env: {}, overrides });
  const createCalls: FakeSessionHost["createCalls"] = [];
  const messages: string[] = [];
  const stoppedSessions: string[] = [];
  let counter = 0;

  const createSession = async (options: HostedSessionOptions = {}): Promise<HostedSession> => {
    createCalls.push(options);
    counter += 1;
    const id = options.sessionId ?? `session-fake-${counter}-${Math.random().toString(16).slice(2, 8)}`;
    const workingDirectory = join(appDir, "workspace", "sessions", id, "cwd");
    mkdirSync(workingDirectory, { recursive: true });
    let note = options.note;
    let running: AbortController | undefined;
    let stopped = false;
    const rounds: Round[] = [...(options.rounds ?? [])];
    const session: HostedSession = {
      id,
      workingDirectory,
      roles: ["Planner", "CodeInterpreter"],
      async sendMessage(message: string, sendOptions: SendMessageOptions = {}) {
        // Like the core: misuse rejects before any event; everything else is a round that
        // begins with round-start and ends with round-end or round-error.
        if (stopped) throw new TaskWeaverError("session_stopped", "stopped");
        if (running) throw new TaskWeaverError("round_in_progress", "busy");
        if (message === "reject")
          throw new TaskWeaverError("session_stopped", "The session has been stopped.");
        const controller = new AbortController();
        running = controller;
        const emit = (event: TaskWeaverEvent) => sendOptions.onEvent?.(event);
        const round = createRound(message);
        rounds.push(round);
        const ids = { sessionId: id, roundId: round.id };
        emit({ type: "round-start", ...ids, userQuery: message });
        let text = message;
        if (sendOptions.files?.length)
          text = `files added: ${sendOptions.files.map((file) => file.name).join(", ")}.\n${text}`;
        if (note) {
          text = `${note}\n${text}`;
          note = undefined;
        }
        messages.push(text);
        try {
          if (message === "throw") throw new ExecutorUnavailableError("No Python found.");
          const userPost = createPost({ send_from: "User", send_to: "Planner", message: text });
          round.post_list.push(userPost);
          emit({ type: "post-start", ...ids, postId: userPost.id, role: "User" });
          emit({ type: "post-end", ...ids, post: userPost });
          const reply = createPost({ send_from: "Planner", send_to: "User", message: "" });
          emit({ type: "post-start", ...ids, postId: reply.id, role: "Planner" });
          emit({
            type: "post-status",
            ...ids,
            postId: reply.id,
            role: "Planner",
            status: "calling the model",
          });
          if (message === "slow") {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, 3_000);
              controller.signal.addEventListener("abort", () => {
                clearTimeout(timer);
                resolve();
              });
            });
          }
          if (controller.signal.aborted) throw new AbortedError("The round was stopped by the user.");
          if (message === "fail") throw new TaskWeaverError("llm_response_error", "The model answered 500.");
          const written = /^write (\S+)$/.exec(message)?.[1];
          if (written) writeFileSync(join(workingDirectory, written), `made by the code\n`);
          emit({ type: "execution-output", ...ids, postId: reply.id, stream: "stdout", text: "42\n" });
          for (const delta of ["Done: ", message]) {
            reply.message += delta;
            emit({ type: "post-delta", ...ids, postId: reply.id, delta });
            await new Promise((resolve) => setImmediate(resolve));
          }
          emit({ type: "post-recipient", ...ids, postId: reply.id, sendTo: "User" });
          round.post_list.push(reply);
          emit({ type: "post-end", ...ids, post: reply });
          round.state = "finished";
          emit({ type: "round-end", ...ids, round });
        } catch (caught) {
          const error = TaskWeaverError.isInstance(caught)
            ? caught
            : new TaskWeaverError("internal_error", String(caught));
          round.state = "failed";
          session.lastError = error;
          emit({ type: "round-error", ...ids, error: { code: error.code, message: error.message }, round });
        } finally {
          running = undefined;
        }
        return round;
      },
      async interrupt() {
        running?.abort();
      },
      async stop() {
        stopped = true;
        running?.abort();
        stoppedSessions.push(id);
      },
    };
    return session;
  };

  return {
    appDir,
    config,
    createCalls,
    messages,
    stoppedSessions,
    createSession,
    async close() {},
    remove: () => rmSync(appDir, { recursive: true, force: true }),
  };
}
