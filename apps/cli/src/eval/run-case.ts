import { spawn } from "node:child_process";
import { cpSync, existsSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { ConfigError, toTaskWeaverError, type Round, type RoundUsage, type TaskWeaverApp } from "@taskweaver/core";
import { languageModelFromConfig } from "@taskweaver/core/internal";
import type { EvalCase } from "./case-file.js";
import { checkDependencies } from "./dependencies.js";
import { runEvalCode } from "./eval-code.js";
import { judgeScoringPoint } from "./judge.js";
import { scorePoints, type CaseScore } from "./scoring.js";
import { emitCaseScore, emitPointResult, withCaseSpan } from "./telemetry.js";
import { conversationForScoring, talkWithAgent, type Conversation, type ConversationMessage } from "./virtual-user.js";

/** How the evaluation builds an app for a case (tests and `cli.tsx` pass the real one). */
export type CreateEvalApp = (options: {
  appDir: string | undefined;
  configOverrides: Record<string, unknown>;
  env: Record<string, string | undefined>;
  cwd: string;
}) => Promise<TaskWeaverApp>;

/** `record`: every model answer of the case is written to `dir`; `replay`: answers come only from there. */
export interface Recording {
  mode: "record" | "replay";
  dir: string;
}

/** Options of `runCase`. */
export interface RunCaseOptions {
  createApp: CreateEvalApp;
  env: Record<string, string | undefined>;
  cwd: string;
  /** `-p APP`: wins over the case's `app_dir`. */
  projectDir?: string;
  /** `--config` values; they win over the case's `config_var`. */
  configOverrides?: Record<string, unknown>;
  recording?: Recording;
  /** Agent replies per case. @default `virtual_user.max_rounds` of the config, else 5 */
  maxRounds?: number;
  /**
   * Entries of `ext_llms.llm_configs` for the model playing the user and the model judging the
   * points (for example a stronger judge than the agent's model). @default the app's model
   */
  userModelAlias?: string;
  /** @default the app's model */
  judgeModelAlias?: string;
  /** Called with each message of the conversation (verbose output). */
  onMessage?: (message: ConversationMessage) => void;
  signal?: AbortSignal;
}

/** What became of one case. */
export type CaseOutcome =
  | {
      status: "scored";
      case: EvalCase;
      score: CaseScore;
      conversation: Conversation;
      /** Tokens, model and kernel time, cost of the agent's rounds (not the virtual user's or the judge's calls). */
      agentUsage: RoundUsage;
      sessionId: string;
      durationMs: number;
    }
  | { status: "error"; case: EvalCase; error: string; durationMs: number };

/** A session id of the case, the same on every run, so recorded prompts that name paths match. */
export function caseSessionId(name: string): string {
  return `eval-${name.replace(/\.ya?ml$/i, "").replace(/[^A-Za-z0-9_.-]+/g, "-")}`;
}

/** The recording file of a case in a `--record`/`--replay` folder. */
export function recordingFile(dir: string, name: string): string {
  return join(dir, `${caseSessionId(name).slice("eval-".length)}.yaml`);
}

/** The config overrides that route every model call of the case through the record/replay model. */
export function recordingOverrides(recording: Recording, name: string): Record<string, unknown> {
  return {
    "llm.use_mock": true,
    "llm.mock.mode": recording.mode === "record" ? "record_only" : "playback_only",
    "llm.mock.cache_path": recordingFile(recording.dir, name),
  };
}

function runPreCommand(command: string, cwd: string, env: Record<string, string | undefined>, signal?: AbortSignal): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, { cwd, env, shell: true, stdio: ["ignore", "pipe", "pipe"], ...(signal ? { signal } : {}) });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.on("error", (error) => reject(new ConfigError(`pre_command "${command}" could not start: ${error.message}`)));
    child.on("close", (code) => {
      if (code === 0) return resolvePromise();
      const tail = output.trim().split("\n").slice(-10).join("\n");
      reject(new ConfigError(`pre_command "${command}" exited with code ${code}${tail ? `:\n${tail}` : "."}`));
    });
  });
}

function copyDataFiles(evalCase: EvalCase, workingDirectory: string): void {
  for (const [index, file] of evalCase.dataFiles.entries()) {
    if (!existsSync(file)) {
      throw new ConfigError(
        `The data file ${file} (data_files[${index}] of ${evalCase.file}) does not exist. ` +
          `data_files are relative to the case file's folder.`,
      );
    }
    const target = join(workingDirectory, basename(file));
    if (statSync(file).isDirectory()) cpSync(file, target, { recursive: true });
    else cpSync(file, target);
  }
}

/** The agent's reply as the virtual user sees it; with `verbose`, the posts inside the round too. */
function replyOf(round: Round, verbose: boolean): string {
  const last = round.post_list.at(-1)?.message ?? "";
  if (!verbose) return last;
  const inside = round.post_list.map((post) => `${post.send_from} -> ${post.send_to}: ${post.message}`);
  return `${last}\n\nThe conversation inside the agent:\n${inside.join("\n")}`;
}

/**
 * Runs one case: its pre_command, a fresh session of its app (config_var applied, data files
 * copied in, dependencies checked in the kernel), the virtual user's conversation, then every
 * scoring point. Never rejects: a case that cannot run comes back as `status: "error"` with
 * the reason.
 */
export async function runCase(evalCase: EvalCase, options: RunCaseOptions): Promise<CaseOutcome> {
  const startedAt = Date.now();
  try {
    return await withCaseSpan(evalCase.name, async () => {
      for (const command of evalCase.preCommands) await runPreCommand(command, dirname(evalCase.file), options.env, options.signal);
      const { "virtual_user.max_rounds": caseMaxRounds, ...configVar } = evalCase.configVar;
      // A new recording of the case replaces the old one instead of adding to it.
      if (options.recording?.mode === "record") rmSync(recordingFile(options.recording.dir, evalCase.name), { force: true });
      const appDir = options.projectDir !== undefined ? resolve(options.cwd, options.projectDir) : evalCase.appDir;
      const app = await options.createApp({
        appDir,
        configOverrides: {
          ...configVar,
          ...options.configOverrides,
          ...(options.recording ? recordingOverrides(options.recording, evalCase.name) : {}),
        },
        env: options.env,
        cwd: options.cwd,
      });
      try {
        const sessionId = caseSessionId(evalCase.name);
        // A fresh working directory each run: files of an earlier run would change what the code sees.
        rmSync(join(app.config.get("workspace.workspace_path"), "sessions", sessionId), { recursive: true, force: true });
        const session = await app.createSession({ sessionId });
        copyDataFiles(evalCase, session.workingDirectory);
        if (evalCase.dependencies.length > 0) await checkDependencies(await session.executor(), evalCase.dependencies);

        const configured = Number(caseMaxRounds ?? app.config.raw("virtual_user.max_rounds"));
        const maxRounds = options.maxRounds ?? (Number.isInteger(configured) && configured > 0 ? configured : 5);
        const modelFor = (alias: string | undefined) =>
          alias === undefined ? app.languageModel : languageModelFromConfig(app.config, { alias });
        const userModel = modelFor(options.userModelAlias);
        const judgeModel = modelFor(options.judgeModelAlias);
        const conversation = await talkWithAgent({
          model: userModel,
          taskDescription: evalCase.taskDescription,
          maxRounds,
          ...(options.onMessage ? { onMessage: options.onMessage } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
          askAgent: async (message) => {
            const round = await session.sendMessage(message, options.signal ? { signal: options.signal } : {});
            if (round.state === "failed") throw new Error(session.lastError?.message ?? "the round failed.");
            return replyOf(round, evalCase.verbose);
          },
        });
        const history = conversationForScoring(conversation);
        const score = await scorePoints(
          evalCase.scoringPoints,
          {
            byCode: async (code) =>
              runEvalCode(await session.executor(), code, history, options.signal ? { signal: options.signal } : {}),
            byModel: (point) =>
              judgeScoringPoint({
                model: judgeModel,
                taskDescription: evalCase.taskDescription,
                conversation: history,
                statement: point.scorePoint,
                ...(options.signal ? { signal: options.signal } : {}),
              }),
          },
          (point) => emitPointResult(evalCase.name, point),
        );
        emitCaseScore(evalCase.name, score);
        return {
          status: "scored",
          case: evalCase,
          score,
          conversation,
          agentUsage: session.usage,
          sessionId,
          durationMs: Date.now() - startedAt,
        };
      } finally {
        await app.close().catch(() => undefined);
      }
    });
  } catch (error) {
    return { status: "error", case: evalCase, error: toTaskWeaverError(error).message, durationMs: Date.now() - startedAt };
  }
}
