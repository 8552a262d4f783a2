// Model answers in the exact JSON formats the Planner and the CodeInterpreter ask for, for
// scripting the fake OpenAI server in end-to-end tests.

/** The plan a scripted Planner shows: a working step, then the report to the user. */
export interface ScriptedPlan {
  reasoning: string;
  /** The step the CodeInterpreter works on and the step that reports to the user. */
  steps: readonly [work: string, report: string];
  /** The initial plan, when it is not the two steps with the report depending on the work. */
  initPlan?: string;
}

const DEFAULT_PLAN: ScriptedPlan = {
  reasoning: "The request needs code.",
  steps: ["run code", "report to the user"],
};

/**
 * A Planner answer sending `message` to `sendTo`. Rounds stop ("Completed") when it goes to
 * the User, unless `stop` says otherwise.
 */
export function plannerAnswer(
  sendTo: string,
  message: string,
  plan: ScriptedPlan = DEFAULT_PLAN,
  stop = sendTo === "User" ? "Completed" : "InProcess",
): string {
  const [work, report] = plan.steps;
  return JSON.stringify({
    response: {
      plan_reasoning: plan.reasoning,
      init_plan: plan.initPlan ?? `1. ${work}\n2. ${report} <depends on 1>`,
      plan: `1. ${work}\n2. ${report}`,
      current_plan_step: sendTo === "User" ? `2. ${report}` : `1. ${work}`,
      stop,
      send_to: sendTo,
      message,
    },
  });
}

/** A CodeInterpreter answer with Python to run. */
export function pythonAnswer(code: string, thought = "I will run Python."): string {
  return JSON.stringify({ response: { thought, reply_type: "python", reply_content: code } });
}

/** The model's answers for one planner round: Planner -> CodeInterpreter (code) -> Planner -> User. */
export function plannerRound(code: string, answer = "Done.", plan: ScriptedPlan = DEFAULT_PLAN): string[] {
  return [
    plannerAnswer("CodeInterpreter", "Please run the code.", plan),
    pythonAnswer(code),
    plannerAnswer("User", answer, plan),
  ];
}
