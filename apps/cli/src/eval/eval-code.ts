import type { CodeExecutor } from "@taskweaver/core";
import type { Verdict } from "./judge.js";
import type { ConversationMessage } from "./virtual-user.js";

const MESSAGE_CLASSES: Record<ConversationMessage["role"], string> = {
  system: "SystemMessage",
  agent: "HumanMessage",
  user: "AIMessage",
};

function base64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}

/**
 * The Python that runs a scoring point's `eval_code` in the session's kernel, in its working
 * directory. The code sees what the original gave it: `chat_history`, a list of message
 * objects with `.content` (`SystemMessage` for the virtual user's instruction, `HumanMessage`
 * for what the agent said, `AIMessage` for what the virtual user said, the final stop word
 * left out), those three classes, and `json`. It runs in a namespace of its own, so the
 * agent's variables neither leak in nor get overwritten. Code and history travel as base64,
 * so no quoting of theirs can break the wrapper.
 */
export function evalCodeProgram(code: string, conversation: readonly ConversationMessage[]): string {
  const history = conversation.map((message) => [MESSAGE_CLASSES[message.role], message.content]);
  return `def __taskweaver_eval():
    import base64, json

    class _Message:
        type = "message"

        def __init__(self, content):
            self.content = content

        def __repr__(self):
            return f"{type(self).__name__}(content={self.content!r})"

        def __eq__(self, other):
            return type(self) is type(other) and self.content == other.content

    class SystemMessage(_Message):
        type = "system"

    class HumanMessage(_Message):
        type = "human"

    class AIMessage(_Message):
        type = "ai"

    classes = {"SystemMessage": SystemMessage, "HumanMessage": HumanMessage, "AIMessage": AIMessage}
    decode = lambda text: base64.b64decode(text).decode("utf-8")
    history = json.loads(decode("${base64(JSON.stringify(history))}"))
    namespace = {"__name__": "__eval_code__", "json": json, **classes}
    namespace["chat_history"] = [classes[kind](content) for kind, content in history]
    exec(compile(decode("${base64(code)}"), "<eval_code>", "exec"), namespace)

try:
    __taskweaver_eval()
finally:
    del __taskweaver_eval
`;
}

/**
 * Runs `eval_code` and turns the outcome into a verdict: the point is hit when the code runs
 * to its end; a failed assertion or any other error misses it, with the error as the reason.
 */
export async function runEvalCode(
  executor: Pick<CodeExecutor, "execute">,
  code: string,
  conversation: readonly ConversationMessage[],
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Verdict> {
  const result = await executor.execute(evalCodeProgram(code, conversation), {
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
  if (result.isSuccess) return { isHit: true, reason: "eval_code passed" };
  if (result.error !== undefined) {
    const { name, value } = result.error;
    return { isHit: false, reason: `eval_code failed: ${name}${value !== "" ? `: ${value}` : ""}` };
  }
  return { isHit: false, reason: `eval_code did not finish (${result.outcome})${result.notes.length > 0 ? `: ${result.notes.join(" ")}` : ""}` };
}
