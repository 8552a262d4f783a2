import { MockAnswerMissingError, type TaskWeaverError } from "@taskweaver/core";

/** What the CLI knows about a `--demo` run, for explaining its failures. */
export interface DemoContext {
  /** The one request the recording answers (`project/demo/demo.json`), when known. */
  request: string | undefined;
  /** The command the user types, e.g. `taskweaver` or `pnpm --silent taskweaver`. */
  command: string;
}

/**
 * The demo replays one recorded conversation, so any other request has no recorded answer.
 * Say that, name the request it knows, and how to ask anything with a real model.
 */
export function demoAnswerMissingMessage(demo: DemoContext): string {
  return [
    demo.request === undefined
      ? "The demo replays a recorded conversation and knows only its recorded request."
      : `The demo replays a recorded conversation and knows only its recorded request:\n  ${demo.request}`,
    "To ask your own questions, use a real model: set LLM_API_KEY and LLM_MODEL (and LLM_API_BASE",
    `for servers other than OpenAI), then run \`${demo.command} -p DIR\` without --demo, DIR being`,
    "your app directory (the sample one is project/).",
  ].join("\n");
}

/**
 * The line a failed round is shown with: the error's own message (written for users), except
 * in `--demo`, where a request the recording does not know gets {@link demoAnswerMissingMessage}
 * instead of a cache key.
 */
export function roundErrorMessage(
  error: TaskWeaverError | undefined,
  message: string,
  demo: DemoContext | undefined,
): string {
  if (demo !== undefined && isMockAnswerMissing(error)) return demoAnswerMissingMessage(demo);
  return message;
}

/**
 * `MockAnswerMissingError.isInstance`, plus its own field: until every error class has its own
 * marker, `isInstance` of a subclass also accepts its siblings.
 */
function isMockAnswerMissing(error: TaskWeaverError | undefined): boolean {
  return MockAnswerMissingError.isInstance(error) && "cachePath" in error;
}
