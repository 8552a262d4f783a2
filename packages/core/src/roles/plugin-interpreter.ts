import { AbortedError } from "../errors.js";
import type { CodeExecutor, ExecutionResult } from "../executor/contract.js";
import type { ChatMessage, ChatTool, ChatToolCall, LanguageModel } from "../llm/types.js";
import { findAttachment } from "../memory/factories.js";
import type { Attachment, Post, Round } from "../memory/types.js";
import { pluginToLoadSpec, pluginToTool } from "../plugins/plugin-render.js";
import type { PluginSpec } from "../plugins/plugin-spec.js";
import { formatExecutionResult } from "../prompts/execution-report.js";
import { CODE_INTERPRETER_ALIAS } from "./code-interpreter.js";
import { countTrailingRetries, findRequester } from "./extra-role-helpers.js";
import { describeModelRetry } from "../model-calls/model-answer.js";
import type { Role, RoleContext } from "./role.js";
import { traceExecution } from "../tracing/agent-spans.js";
import { traceChat } from "../tracing/chat-span.js";

export interface PluginInterpreterOptions {
  model: LanguageModel;
  executor: () => Promise<CodeExecutor>;
  /** The `plugin_only` plugins offered to the model as tools (others are ignored). */
  plugins: readonly PluginSpec[];
  /** Self-retries per request after a failed call. @default 3 */
  maxRetryCount?: number;
  /** Time limit per call, in ms. @default the executor's */
  executionTimeoutMs?: number;
  /**
   * Load the plugins into each new kernel before the first call. Harmless when the session
   * already loaded them (loading replaces the plugin with itself); it makes the role work on
   * its own.
   * @default true
   */
  loadPluginsIntoKernel?: boolean;
  experience?: string;
  /** @default CodeInterpreter */
  alias?: string;
}

/** The content of a `function` attachment: one tool call as JSON. */
export interface FunctionCallRecord {
  /** The model's id of the call, used to pair it with its result in later prompts. */
  id: string;
  name: string;
  /** The parsed arguments, or the raw text when they were not a JSON object. */
  arguments: unknown;
}

function buildPluginSystemPrompt(requester: string, tools: readonly ChatTool[], experience: string | undefined): string {
  return `You are the CodeInterpreter of TaskWeaver, in plugin mode. You fulfil requests from the ${requester} by calling the functions you are given as tools; you cannot run any other code.

- Call the function that does what is asked, with arguments taken from the request. You may call several functions at once when they do not depend on each other.
- You get the result of each call; when a call fails you see the error and may call again with corrected arguments.
- If no function fits the request, or it needs no call, answer in plain text and say so.

Functions: ${tools.map((tool) => tool.name).join(", ")}.
${experience ? `\nLessons from earlier sessions:\n${experience}\n` : ""}`;
}

/**
 * Python that calls a loaded plugin with JSON arguments and shows its return value. The
 * arguments travel as a JSON string literal (also a valid Python literal), so no argument can
 * break out of the call.
 */
export function createPluginCallCode(name: string, argumentsJson: string): string {
  return `result = ${name}(**__import__("json").loads(${JSON.stringify(argumentsJson)}))`;
}

type CallOutcome =
  | { kind: "ran"; call: ChatToolCall; args: Record<string, unknown>; result: ExecutionResult; report: string }
  | { kind: "rejected"; call: ChatToolCall; args: unknown; report: string };

/**
 * A CodeInterpreter that only calls plugins (`session.roles` name
 * `code_interpreter_plugin_only`): the enabled `plugin_only` plugins are offered to the model as
 * function-calling tools, each call runs as `result = <plugin>(**arguments)` in the session's
 * kernel, and the results go back to the requester.
 */
export function createPluginInterpreter(options: PluginInterpreterOptions): Role {
  const alias = options.alias ?? CODE_INTERPRETER_ALIAS;
  const maxRetries = options.maxRetryCount ?? 3;
  const plugins = options.plugins.filter((plugin) => plugin.plugin_only || plugin.mcp);
  const tools = plugins.map(pluginToTool);
  // By tool name: an MCP tool's (`everything__get_sum`) differs from its Python name.
  const byName = new Map(plugins.map((plugin, index) => [tools[index]!.name, plugin]));
  const loadedInto = new WeakSet<CodeExecutor>();

  async function readyExecutor(): Promise<CodeExecutor> {
    const executor = await options.executor();
    if (options.loadPluginsIntoKernel !== false && !loadedInto.has(executor)) {
      for (const plugin of plugins) await executor.loadPlugin(pluginToLoadSpec(plugin));
      loadedInto.add(executor);
    }
    return executor;
  }

  const pluginList = tools.map((tool) => `${tool.name} (${tool.description.split("\n")[0]})`).join("; ");
  return {
    alias,
    description: `Calls these functions (plugins) and reports their results; it cannot run other code: ${pluginList || "none"}.`,
    isCodeInterpreter: true,
    async reply(context: RoleContext): Promise<Post> {
      const requester = findRequester(context.round, alias) ?? context.incoming.send_from;
      const canRetry = countTrailingRetries(context.round, alias) < maxRetries;
      const messages: ChatMessage[] = [
        { role: "system", content: buildPluginSystemPrompt(requester, tools, options.experience) },
        ...formatPluginRounds(context.rounds, alias),
      ];

      const builder = context.startPost();
      builder.status("calling the model");
      const calls: ChatToolCall[] = [];
      let text = "";
      for await (const part of traceChat(options.model, {
        messages,
        tools,
        responseFormat: "text",
        signal: context.signal,
        tag: alias,
        onRetry: (info) => builder.status(describeModelRetry(info)),
      })) {
        if (context.signal.aborted) throw new AbortedError();
        if (part.type === "text-delta") text += part.text;
        else if (part.type === "tool-call") calls.push(part.toolCall);
      }

      if (calls.length === 0) {
        builder.setRecipient(requester);
        builder.setMessage(text.trim() === "" ? "I have no function call or answer for this request." : text.trim());
        return builder.end();
      }

      builder.status("executing code");
      const outcomes: CallOutcome[] = [];
      for (const call of calls) {
        if (context.signal.aborted) break;
        const outcome = await runCall(call, context, builder);
        outcomes.push(outcome);
        const record: FunctionCallRecord = { id: call.id, name: call.name, arguments: outcome.args };
        builder.addAttachment("function", JSON.stringify(record));
        builder.addAttachment("execution_status", outcome.kind === "ran" ? (outcome.result.isSuccess ? "SUCCESS" : "FAILURE") : "NONE");
        builder.addAttachment("execution_result", outcome.report, outcome.kind === "ran" ? { outcome: outcome.result.outcome, output: outcome.result.output } : undefined);
        if (outcome.kind === "ran" && outcome.result.artifacts.length > 0) {
          builder.addAttachment("artifact_paths", JSON.stringify(outcome.result.artifacts.map((artifact) => artifact.path)), {
            artifacts: outcome.result.artifacts,
          });
        }
      }

      const summary = outcomes.map((outcome) => `${describeCall(outcome.call, outcome.args)}\n${outcome.report}`).join("\n\n");
      const failed = outcomes.some((outcome) => outcome.kind === "rejected" || !outcome.result.isSuccess);
      if (failed && !context.signal.aborted) {
        if (canRetry) {
          const revise = "At least one call failed (see the results above). Call again with corrected arguments, or answer in text if it cannot be done.";
          builder.addAttachment("revise_message", revise);
          builder.setRecipient(alias);
          builder.setMessage(`${summary}\n\n${revise}`);
        } else {
          builder.setRecipient(requester);
          builder.setMessage(`${summary}\n\nI ran out of retries and could not complete the request.`);
        }
        return builder.end();
      }
      builder.setRecipient(requester);
      builder.setMessage(summary);
      return builder.end();
    },
  };

  async function runCall(
    call: ChatToolCall,
    context: RoleContext,
    builder: ReturnType<RoleContext["startPost"]>,
  ): Promise<CallOutcome> {
    let args: unknown;
    try {
      args = call.arguments.trim() === "" ? {} : JSON.parse(call.arguments);
    } catch {
      return { kind: "rejected", call, args: call.arguments, report: `The call was not run: its arguments are not valid JSON: ${call.arguments}` };
    }
    if (!byName.has(call.name)) {
      return {
        kind: "rejected",
        call,
        args,
        report: `The call was not run: there is no function "${call.name}". Available: ${[...byName.keys()].join(", ") || "none"}.`,
      };
    }
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
      return { kind: "rejected", call, args, report: "The call was not run: the arguments must be a JSON object of named parameters." };
    }
    const executor = await readyExecutor();
    const result = await traceExecution(
      { toolName: call.name, toolType: "function", executorKind: executor.info.kind, code: JSON.stringify(args), toolCallId: call.id },
      () =>
        executor.execute(createPluginCallCode(byName.get(call.name)!.name, JSON.stringify(args)), {
          signal: context.signal,
          timeoutMs: options.executionTimeoutMs,
          onOutput: (output) => builder.executionOutput(output.stream, output.text),
        }),
    );
    return { kind: "ran", call, args: args as Record<string, unknown>, result, report: formatExecutionResult(result) };
  }
}

function describeCall(call: ChatToolCall, args: unknown): string {
  return `Called ${call.name} with ${typeof args === "string" ? args : JSON.stringify(args)}:`;
}

function parseRecord(attachment: Attachment, index: number): FunctionCallRecord {
  try {
    const value = JSON.parse(attachment.content) as Partial<FunctionCallRecord>;
    return { id: value.id || `call_${index}`, name: value.name ?? "unknown", arguments: value.arguments ?? {} };
  } catch {
    return { id: `call_${index}`, name: "unknown", arguments: attachment.content };
  }
}

/**
 * Renders rounds as the plugin interpreter's chat. Its own posts become assistant turns with
 * their tool calls, each followed by a tool message with what the call returned, which is the
 * shape function-calling models are trained on.
 */
export function formatPluginRounds(rounds: readonly Round[], alias: string = CODE_INTERPRETER_ALIAS): ChatMessage[] {
  const messages: ChatMessage[] = [];
  for (const round of rounds) {
    for (const post of round.post_list) {
      if (post.send_from === alias) {
        const functions = post.attachment_list.filter((attachment) => attachment.type === "function");
        if (functions.length === 0) {
          messages.push({ role: "assistant", content: post.message });
          continue;
        }
        const results = post.attachment_list.filter((attachment) => attachment.type === "execution_result");
        const records = functions.map(parseRecord);
        messages.push({
          role: "assistant",
          content: "",
          toolCalls: records.map((record) => ({
            id: record.id,
            name: record.name,
            arguments: typeof record.arguments === "string" ? record.arguments : JSON.stringify(record.arguments),
          })),
        });
        records.forEach((record, index) => {
          messages.push({ role: "tool", toolCallId: record.id, content: results[index]?.content ?? "No result was recorded." });
        });
        const revise = findAttachment(post, "revise_message");
        if (revise) messages.push({ role: "user", content: revise.content });
      } else if (post.send_to === alias) {
        messages.push({ role: "user", content: post.message });
      }
    }
  }
  return messages;
}
