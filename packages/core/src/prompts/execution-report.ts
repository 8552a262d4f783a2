import type { ExecutionResult } from "../executor/contract.js";

/** Longest stdout/displayed text we put in a prompt; the full output stays in the result. */
const MAX_REPORT_CHARS = 4000;

function cut(text: string, limit = MAX_REPORT_CHARS): string {
  if (text.length <= limit) return text;
  const head = text.slice(0, Math.floor(limit * 0.7));
  const tail = text.slice(text.length - Math.floor(limit * 0.2));
  return `${head}\n... [${text.length - head.length - tail.length} characters cut] ...\n${tail}`;
}

/**
 * The text that tells the model (and the Planner) what a run did: success or failure, the
 * displayed value or else the printed output, the error, the files made, and any notes (what
 * was cut, whether variables were lost).
 */
export function formatExecutionResult(result: ExecutionResult): string {
  const parts: string[] = [];
  switch (result.outcome) {
    case "ok":
      parts.push("The code ran successfully.");
      break;
    case "timeout":
      parts.push("The code was stopped because it ran past the execution time limit.");
      break;
    case "interrupted":
      parts.push("The code was interrupted before it finished.");
      break;
    case "kernel-died":
      parts.push("The Python kernel died while running the code.");
      break;
    default:
      parts.push("The code failed.");
  }
  const stdout = result.stdout.join("");
  if (result.output.trim() !== "") parts.push(`Displayed value:\n${cut(result.output.trimEnd())}`);
  if (stdout.trim() !== "") parts.push(`Printed output:\n${cut(stdout.trimEnd())}`);
  if (result.error) parts.push(`Error:\n${cut(result.error.traceback || `${result.error.name}: ${result.error.value}`)}`);
  if (result.artifacts.length > 0) {
    parts.push(
      `Files made:\n${result.artifacts.map((artifact) => `- ${artifact.path} (${artifact.type}: ${artifact.description})`).join("\n")}`,
    );
  }
  if (result.stateLost) parts.push("Note: the kernel was restarted, so all variables are gone; files remain. Recreate what you need.");
  for (const note of result.notes) parts.push(`Note: ${note}`);
  return parts.join("\n\n");
}

/** The message a CodeInterpreter sends back: the code that ran and what it did. */
export function formatExecutionMessage(code: string, result: ExecutionResult): string {
  return `This code was run:\n\`\`\`python\n${code.trimEnd()}\n\`\`\`\n\n${formatExecutionResult(result)}`;
}
