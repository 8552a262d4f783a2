import type { CodeExecutor, ExecutionResult } from "../executor/contract.js";
import type { ChatMessage, LanguageModel } from "../llm/types.js";
import type { Post, Round } from "../memory/types.js";
import { CODE_INTERPRETER_ALIAS } from "./code-interpreter.js";
import { workerAnswerFormat } from "../prompts/worker-answer-format.js";
import { cutText } from "../text/cut-text.js";
import { countTrailingRetries, findRequester } from "./extra-role-helpers.js";
import { buildRoleChat, createSystemPromptCache } from "./role-chat.js";
import type { Role, RoleContext } from "./role.js";
import {
  formatWorkerRounds,
  startWorkerReply,
} from "./worker-answer.js";
import { traceExecution } from "../tracing/agent-spans.js";

/** Longest command output we put in a prompt or a message; the whole output stays in the result. */
const MAX_OUTPUT_CHARS = 4000;

const CLI_ANSWER_FORMAT = workerAnswerFormat("cli_answer", ["cli", "text"]);

/**
 * The wire format of a CLI answer, for `llm.response_format: json_schema`:
 * `{"response": {"thought": "...", "reply_type": "cli" | "text", "reply_content": "<command or answer>"}}`.
 */
export const CLI_ANSWER_SCHEMA: Record<string, unknown> = CLI_ANSWER_FORMAT.schema;

export interface CliInterpreterOptions {
  model: LanguageModel;
  executor: () => Promise<CodeExecutor>;
  /** Self-retries per request for answers that cannot be used. @default 3 */
  maxRetryCount?: number;
  responseFormat?: "json_object" | "json_schema" | "text";
  /** Time limit per command, in ms. @default the executor's */
  executionTimeoutMs?: number;
  experience?: string;
  /** @default CodeInterpreter */
  alias?: string;
}

function buildCliSystemPrompt(requester: string, experience: string | undefined): string {
  return `You are the CodeInterpreter of TaskWeaver, in command-line mode. You fulfil requests from the ${requester} by running shell commands (POSIX sh) in the session's working directory, one command per answer. You see each command's exit status and output before your next answer.

- Give one command line per answer; chain steps with && or pipes when they belong together.
- Commands run without a terminal and without input: never start an editor, a pager or anything that waits for the keyboard.
- Prefer commands whose output is short; limit long listings (head, wc, grep).
- When the request needs no command (a question about earlier output), answer in text.
${experience ? `\nLessons from earlier sessions:\n${experience}\n` : ""}
Reply with one JSON object and nothing else:
{"response": {"thought": "<your reasoning, briefly>", "reply_type": "cli" or "text", "reply_content": "<the command, or the answer>"}}`;
}

/**
 * Python that runs one shell command in the kernel's working directory, prints its output as
 * it comes (stderr merged into stdout) and shows the exit status as the displayed value.
 * Everything lives in a function so the user's namespace stays clean; on interrupt the
 * command is killed rather than left running.
 */
export function createShellCommandCode(command: string): string {
  return [
    "def __taskweaver_run_command(command):",
    "    import subprocess, sys",
    "    process = subprocess.Popen(command, shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,",
    "                               stderr=subprocess.STDOUT, text=True, errors='replace')",
    "    try:",
    "        for line in process.stdout:",
    "            sys.stdout.write(line)",
    "            sys.stdout.flush()",
    "        return process.wait()",
    "    except BaseException:",
    "        process.kill()",
    "        process.wait()",
    "        raise",
    // A JSON string literal is a valid Python string literal, whatever the command holds.
    `__taskweaver_run_command(${JSON.stringify(command)})`,
  ].join("\n");
}

/** How one command ended, read from the kernel's result. */
export interface CommandOutcome {
  /** True when the command ran and exited with status 0. */
  isSuccess: boolean;
  /** The exit status, when the command ran to its end. */
  exitCode: number | undefined;
  /** Everything the command printed (stdout and stderr). */
  output: string;
}

export function readCommandOutcome(result: ExecutionResult): CommandOutcome {
  const output = result.stdout.join("");
  const code = /^-?\d+$/.test(result.output.trim()) ? Number(result.output.trim()) : undefined;
  return { isSuccess: result.isSuccess && code === 0, exitCode: result.isSuccess ? code : undefined, output };
}

/** The report of one command for the model and the requester. */
export function formatCommandReport(command: string, result: ExecutionResult): string {
  const outcome = readCommandOutcome(result);
  const parts: string[] = [];
  if (outcome.exitCode !== undefined) {
    parts.push(`The command \`${command}\` exited with status ${outcome.exitCode}${outcome.exitCode === 0 ? " (success)" : " (failure)"}.`);
  } else if (result.outcome === "timeout") {
    parts.push(`The command \`${command}\` was stopped because it ran past the execution time limit.`);
  } else if (result.outcome === "interrupted") {
    parts.push(`The command \`${command}\` was interrupted before it finished.`);
  } else {
    parts.push(`The command \`${command}\` could not be run.`);
  }
  parts.push(outcome.output.trim() === "" ? "It printed nothing." : `Output:\n${cutText(outcome.output.trimEnd(), MAX_OUTPUT_CHARS)}`);
  if (result.error && outcome.exitCode === undefined) {
    parts.push(`Error:\n${cutText(result.error.traceback || `${result.error.name}: ${result.error.value}`, MAX_OUTPUT_CHARS)}`);
  }
  for (const note of result.notes) parts.push(`Note: ${note}`);
  return parts.join("\n\n");
}

/**
 * A CodeInterpreter that works with shell commands instead of Python (`session.roles`
 * name `code_interpreter_cli_only`): the model answers one command per request, the command
 * runs in the session's kernel (so in its working directory, container or remote host), and
 * the output goes back to the requester.
 */
export function createCliInterpreter(options: CliInterpreterOptions): Role {
  const alias = options.alias ?? CODE_INTERPRETER_ALIAS;
  const maxRetries = options.maxRetryCount ?? 3;
  const systemPrompts = createSystemPromptCache();

  return {
    alias,
    description:
      "Runs shell commands (one per request) in the session's working directory and reports their output: " +
      "files, system information, command-line tools. It does not write Python.",
    isCodeInterpreter: true,
    async reply(context: RoleContext): Promise<Post> {
      const requester = findRequester(context.round, alias) ?? context.incoming.send_from;
      const canRetry = countTrailingRetries(context.round, alias) < maxRetries;
      const messages = await buildRoleChat({
        systemPrompt: systemPrompts(requester, () => buildCliSystemPrompt(requester, options.experience)),
        rounds: context.rounds,
        format: (rounds) => formatCliRounds(rounds, alias),
        signal: context.signal,
      });
      const started = await startWorkerReply(options.model, context, {
        messages,
        responseFormat: options.responseFormat,
        format: CLI_ANSWER_FORMAT,
        tag: alias,
        canRetry,
        requester,
        alias,
      });
      if ("post" in started) return started.post;
      const { builder } = started;
      const command = started.content.trim();
      builder.status("executing code");
      const executor = await options.executor();
      const result = await traceExecution({ toolName: "shell", toolType: "extension", executorKind: executor.info.kind, code: command }, () =>
        executor.execute(createShellCommandCode(command), {
          signal: context.signal,
          timeoutMs: options.executionTimeoutMs,
          onOutput: (output) => builder.executionOutput(output.stream, output.text),
        }),
      );
      const outcome = readCommandOutcome(result);
      const report = formatCommandReport(command, result);
      builder.addAttachment("execution_status", outcome.isSuccess ? "SUCCESS" : "FAILURE");
      builder.addAttachment("execution_result", report, {
        outcome: result.outcome,
        exit_code: outcome.exitCode,
        output: outcome.output,
        duration_ms: result.durationMs,
      });
      // A non-zero exit is an answer too (grep finds nothing, a file is missing): the
      // requester decides what to do with it, so it is reported, not retried.
      builder.setRecipient(requester);
      builder.setMessage(report);
      return builder.end();
    },
  };
}

/** Renders rounds as the CLI interpreter's chat: requests, its answers, and what the commands printed. */
export function formatCliRounds(rounds: readonly Round[], alias: string = CODE_INTERPRETER_ALIAS): ChatMessage[] {
  return formatWorkerRounds(rounds, alias, "");
}
