import type { RoundCompressor } from "../compression/round-compressor.js";
import type { CodeExecutor, ExecutionResult } from "../executor/contract.js";
import type { ExperienceRetriever } from "../experience/experience-store.js";
import type { ChatMessage, LanguageModel } from "../llm/types.js";
import type { Attachment, Post, Round } from "../memory/types.js";
import {
  buildCodeInterpreterSystemPrompt,
  CODE_INTERPRETER_ANSWER_FORMAT,
} from "../prompts/code-interpreter-prompt.js";
import { formatExecutionMessage, formatExecutionResult } from "../prompts/execution-report.js";
import { callsPlugin, declineMessage, type ApprovalRoleContext } from "./approval.js";
import type { CodeProblem, CodeVerifier } from "./code-verifier.js";
import { countTrailingRetries, findRequester } from "./extra-role-helpers.js";
import type { PostBuilder } from "./post-builder.js";
import type { Role, RoleContext } from "./role.js";
import { buildRoleChat, createSystemPromptCache } from "./role-chat.js";
import { endFailedAttempt, formatWorkerRounds, startWorkerReply } from "./worker-answer.js";

export const CODE_INTERPRETER_ALIAS = "CodeInterpreter";

// The verifier's types live apart so that approval can name them without importing this role.
export type { CodeProblem, CodeVerifier } from "./code-verifier.js";

export interface CodeInterpreterOptions {
  model: LanguageModel;
  executor: () => Promise<CodeExecutor>;
  /** Self-retries per request, shared by unparseable answers, failed checks and failed runs. @default 3 */
  maxRetryCount?: number;
  responseFormat?: "json_object" | "json_schema" | "text";
  /** Prepended to every piece of code before it runs (`code_interpreter.code_prefix`). */
  codePrefix?: string;
  /** When set, code is verified before it runs. */
  verifier?: CodeVerifier;
  /**
   * Python signatures of the plugins offered to the model; a function picks them per request
   * (auto plugin selection).
   */
  pluginSignatures?: string | ((request: string, signal: AbortSignal) => Promise<string | undefined>);
  /** Few-shot example conversations, filtered to the session's roles; loaded on first use. */
  examples?: () => Promise<readonly Round[][]>;
  /** Lessons from saved sessions for the request (`code_generator.use_experience`). */
  experience?: ExperienceRetriever;
  /** Summarises old rounds (`code_generator.prompt_compression`); one per session. */
  compressor?: RoundCompressor;
  /** Execution time limit per run, in ms. @default the executor's */
  executionTimeoutMs?: number;
  /** @default CodeInterpreter */
  alias?: string;
  /**
   * Ask before any code runs (`code_interpreter.require_confirmation`): the session's
   * `approveExecution` decides; without one, the code is not run. @default false
   */
  requireConfirmation?: boolean;
  /** Plugins whose use needs approval even when `requireConfirmation` is off (`requires_confirmation`). */
  confirmationPlugins?: readonly string[];
}

/** The CodeInterpreter: asks the model for Python, checks it, runs it and reports back. */
export function createCodeInterpreter(options: CodeInterpreterOptions): Role {
  const alias = options.alias ?? CODE_INTERPRETER_ALIAS;
  const maxRetries = options.maxRetryCount ?? 3;
  const systemPrompts = createSystemPromptCache();
  const systemPromptFor = (requester: string, pluginSignatures: string | undefined, lessons: string | undefined) =>
    systemPrompts(`${requester}\n${pluginSignatures ?? ""}\n${lessons ?? ""}`, () =>
      buildCodeInterpreterSystemPrompt({
        requester,
        pluginSignatures,
        verificationRules: options.verifier?.rules,
        experience: lessons,
      }),
    );

  return {
    alias,
    description:
      "Writes and runs Python in a stateful kernel: data loading, analysis, charts, files. Reports the code and its results.",
    isCodeInterpreter: true,
    async reply(context: ApprovalRoleContext): Promise<Post> {
      const requester = findRequester(context.round, alias) ?? context.incoming.send_from;
      const retriesUsed = countTrailingRetries(context.round, alias);
      const canRetry = retriesUsed < maxRetries;

      const request = lastRequest(context.round, alias) ?? context.incoming.message;
      const signatures =
        typeof options.pluginSignatures === "function"
          ? await options.pluginSignatures(request, context.signal)
          : options.pluginSignatures;
      const lessons = await options.experience?.(request, { signal: context.signal });
      const messages = await buildRoleChat({
        systemPrompt: systemPromptFor(requester, signatures, lessons),
        rounds: context.rounds,
        format: (rounds) => formatCodeInterpreterRounds(rounds, alias),
        compressor: options.compressor,
        examples: options.examples,
        signal: context.signal,
      });
      // The answer's code attachment, so that an edited approval records the code that ran.
      let replyContent: Attachment | undefined;
      const tracking: RoleContext = {
        ...context,
        startPost: () => captureAttachment(context.startPost(), "reply_content", (attachment) => (replyContent = attachment)),
      };
      const started = await startWorkerReply(options.model, tracking, {
        messages,
        responseFormat: options.responseFormat,
        format: CODE_INTERPRETER_ANSWER_FORMAT,
        tag: alias,
        canRetry,
        requester,
        alias,
      });
      if ("post" in started) return started.post;
      const { builder } = started;
      let code = started.content;
      let problems: CodeProblem[] = [];
      if (options.verifier) {
        builder.status("verifying code");
        problems = await options.verifier.verify(code);
        if (problems.length > 0) {
          const list = problems
            .map((item) => (item.message.startsWith("line ") ? item.message : `line ${item.line}: ${item.message}`))
            .join("\n");
          builder.addAttachment("verification", "INCORRECT");
          builder.addAttachment("code_error", list);
          builder.addAttachment("execution_status", "NONE");
          return endFailedAttempt(builder, {
            canRetry,
            requester,
            alias,
            revise: `The code was not run because it breaks these rules:\n${list}\nRewrite it so that it follows them.`,
            failure: `The code was not run because it breaks these rules:\n${list}`,
          });
        }
        builder.addAttachment("verification", "CORRECT");
      } else {
        builder.addAttachment("verification", "NONE");
      }

      let edited = false;
      const plugin = callsPlugin(code, options.confirmationPlugins ?? []);
      if (options.requireConfirmation || plugin !== undefined) {
        builder.status(plugin && !options.requireConfirmation ? `waiting for approval (the code uses ${plugin})` : "waiting for approval");
        const outcome = context.requestApproval
          ? await context.requestApproval({ code, problems, role: alias, postId: builder.id, signal: context.signal })
          : { run: false as const, message: declineMessage("no_approver") };
        if (!outcome.run) {
          builder.addAttachment("execution_status", "NONE");
          builder.addAttachment(
            "execution_result",
            `${outcome.message}\nDo not run the same code again; propose something else, or answer in text.`,
          );
          // Not an error, but like a failed run it goes back to the model while retries remain,
          // so that it may try another way or answer.
          builder.setRecipient(canRetry ? alias : requester);
          builder.setMessage(outcome.message);
          return builder.end();
        }
        if (outcome.edited) {
          edited = true;
          code = outcome.code;
          if (replyContent) replyContent.content = code;
        }
      }

      builder.status("executing code");
      const executor = await options.executor();
      const executable = options.codePrefix ? `${options.codePrefix}\n${code}` : code;
      const result = await executor.execute(executable, {
        signal: context.signal,
        timeoutMs: options.executionTimeoutMs,
        onOutput: (output) => builder.executionOutput(output.stream, output.text),
      });
      const report = `${edited ? "(The user edited your code before it ran; the code above is what ran.)\n" : ""}${formatExecutionResult(result)}`;
      builder.addAttachment("execution_status", result.isSuccess ? "SUCCESS" : "FAILURE");
      builder.addAttachment("execution_result", report, executionExtra(result));
      if (result.artifacts.length > 0) {
        builder.addAttachment("artifact_paths", JSON.stringify(result.artifacts.map((artifact) => artifact.path)), {
          artifacts: result.artifacts,
        });
      }
      if (!result.isSuccess && !context.signal.aborted) {
        return endFailedAttempt(builder, {
          canRetry,
          requester,
          alias,
          revise: `${report}\n\nFix the code and try again.`,
          failure: formatExecutionMessage(code, result),
        });
      }
      builder.setRecipient(requester);
      builder.setMessage(formatExecutionMessage(code, result));
      return builder.end();
    },
  };
}

/** Hands `onFinish` the attachment of `type` when the builder finishes it. */
function captureAttachment(builder: PostBuilder, type: Attachment["type"], onFinish: (attachment: Attachment) => void): PostBuilder {
  const finish = builder.finishAttachment.bind(builder);
  builder.finishAttachment = (finishedType, content, extra) => {
    const attachment = finish(finishedType, content, extra);
    if (finishedType === type) onFinish(attachment);
    return attachment;
  };
  return builder;
}

function executionExtra(result: ExecutionResult) {
  return {
    outcome: result.outcome,
    output: result.output,
    stdout: result.stdout,
    stderr: result.stderr,
    error: result.error,
    state_lost: result.stateLost,
    notes: result.notes,
    duration_ms: result.durationMs,
    html: htmlDisplays(result),
  };
}

/** How much rich HTML (a DataFrame's table) one execution keeps for frontends to show. */
export const MAX_HTML_DISPLAY_CHARS = 200_000;

/**
 * The `text/html` of the execution's rich displays, for frontends that can show them (the
 * playground draws a DataFrame as a table). The model still gets the plain text only; displays
 * past `MAX_HTML_DISPLAY_CHARS` in all are left out, not cut, so no table arrives half.
 */
function htmlDisplays(result: ExecutionResult): string[] {
  const html: string[] = [];
  let total = 0;
  for (const display of result.displays) {
    const text = display.data["text/html"];
    if (text === undefined || total + text.length > MAX_HTML_DISPLAY_CHARS) continue;
    total += text.length;
    html.push(text);
  }
  return html;
}

/** The text of the last request another role sent to the CodeInterpreter in this round. */
function lastRequest(round: Round, alias: string): string | undefined {
  for (let index = round.post_list.length - 1; index >= 0; index -= 1) {
    const post = round.post_list[index]!;
    if (post.send_to === alias && post.send_from !== alias) return post.message;
  }
  return undefined;
}

/** Renders rounds as the CodeInterpreter's chat: requests, its answers, and what running them did. */
export function formatCodeInterpreterRounds(rounds: readonly Round[], alias: string = CODE_INTERPRETER_ALIAS): ChatMessage[] {
  return formatWorkerRounds(rounds, alias, "Result of running your code:\n");
}
