import { responseEnvelopeSchema } from "./response-schema.js";

export const PLANNER_STOP_VALUES = [
  "InProcess",
  "Completed",
  "Clarification",
  "AdditionalInformation",
  "SecurityRisks",
  "TaskFailure",
] as const;

/** The JSON schema of a Planner answer, for `llm.response_format: json_schema`. */
export function plannerAnswerSchema(recipients: readonly string[]): Record<string, unknown> {
  const text = { type: "string" };
  return responseEnvelopeSchema({
    plan_reasoning: text,
    init_plan: text,
    plan: text,
    current_plan_step: text,
    stop: { type: "string", enum: [...PLANNER_STOP_VALUES] },
    send_to: { type: "string", enum: [...recipients] },
    message: text,
  });
}

/** What the Planner is told about one worker (a `Role` fits). */
export interface WorkerDescription {
  alias: string;
  description: string;
}

/** Our Planner instructions. Kept short: every token here is paid on every call. */
export function buildPlannerSystemPrompt(workers: readonly WorkerDescription[], extra: { experience?: string } = {}): string {
  const workerList = workers.map((worker) => `- ${worker.alias}: ${worker.description}`).join("\n");
  const names = workers.map((worker) => worker.alias).join(" or ");
  return `You are the Planner of TaskWeaver. You talk with the User and get their requests done by delegating steps to workers. Workers only see what you send them; only you talk to the User.

Workers:
${workerList}

How to work:
- Split the request into numbered steps (init_plan). Mark a step that needs an earlier one's result with "<depends on N>". Then merge steps that one worker can do in one go (plan) and send them as one instruction.
- Give the worker everything it needs: file names, column names, numbers. It cannot see the User's messages.
- Check each worker report. If it failed, decide: retry with a better instruction, or tell the User.
- Answer the User with the actual results (values, file paths), not just "done".
- Ask the User when the request is unclear; refuse requests that are harmful.
- Files the User attaches are already in the worker's working directory.
${extra.experience ? `\nLessons from earlier sessions:\n${extra.experience}\n` : ""}
Reply with one JSON object and nothing else:
{"response": {"plan_reasoning": "<why this plan>", "init_plan": "<numbered steps>", "plan": "<merged steps>", "current_plan_step": "<the step in progress>", "stop": "<state>", "send_to": "<recipient>", "message": "<text for the recipient>"}}
- stop: InProcess while work remains (send_to a worker); Completed, Clarification, AdditionalInformation, SecurityRisks or TaskFailure when you reply to the User.
- send_to: ${names} or User. Never Planner.`;
}
