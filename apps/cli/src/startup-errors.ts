import { environmentVariableFor, LlmNotConfiguredError, TaskWeaverError } from "@taskweaver/core";
import { REPOSITORY_COMMAND } from "./command-name.js";

/** What each model key is for, in the words the user needs to pick a value. */
const MODEL_KEY_HELP: Record<string, string> = {
  "llm.model": "the model name, e.g. gpt-4o, or the name your server uses",
  "llm.api_key": "the API key of the endpoint",
  "llm.api_base": "the endpoint URL, for servers other than OpenAI (Ollama, vLLM, Azure...)",
};

const OPTIONAL_MODEL_KEYS = ["llm.api_base"];

function keyLine(key: string): string {
  const help = MODEL_KEY_HELP[key] ?? "";
  return `  ${key.padEnd(14)} ${`(${environmentVariableFor(key)})`.padEnd(16)} ${help}`.trimEnd();
}

/**
 * The message printed when the CLI cannot start: which keys to set when no model is
 * configured, the error's own message for other TaskWeaver errors (they are written for
 * users), and a short report for anything unexpected.
 */
export function formatStartupError(
  error: unknown,
  context: {
    configFile?: string;
    /** The command the user types (`cliCommand`). @default "pnpm --silent taskweaver" */
    command?: string;
  } = {},
): string {
  // The field is checked too: until every error class has its own marker, `isInstance` of a
  // subclass also accepts its siblings.
  const missingKeys = LlmNotConfiguredError.isInstance(error)
    ? (error as Partial<LlmNotConfiguredError>).missingKeys
    : undefined;
  if (Array.isArray(missingKeys)) {
    const missing = missingKeys.length > 0 ? missingKeys : ["llm.model", "llm.api_key"];
    const optional = OPTIONAL_MODEL_KEYS.filter((key) => !missing.includes(key));
    const where = context.configFile ?? "taskweaver_config.json";
    const lines = [
      "TaskWeaver needs a language model, and none is configured.",
      `Set these config keys in ${where}, or the environment variables in brackets:`,
      ...missing.map(keyLine),
    ];
    if (optional.length > 0) lines.push("Optional:", ...optional.map(keyLine));
    lines.push(
      "For one run, pass them on the command line instead: --config llm.model=gpt-4o --config llm.api_key=...",
      `To see TaskWeaver without a model, run: ${context.command ?? REPOSITORY_COMMAND} --demo`,
    );
    return `${lines.join("\n")}\n`;
  }
  if (TaskWeaverError.isInstance(error)) return `Error: ${error.message}\n`;
  const message = error instanceof Error ? error.message : String(error);
  return `Unexpected error: ${message}\n`;
}
