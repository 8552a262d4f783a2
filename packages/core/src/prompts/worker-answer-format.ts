import { responseEnvelopeSchema } from "./response-schema.js";

/**
 * How one worker role's answers look: `{"response": {"thought", "reply_type", "reply_content"}}`
 * with `reply_type` one of `replyTypes`. Built once per role, used for every request.
 */
export interface WorkerAnswerFormat {
  /** Names the schema sent with `json_schema`. */
  name: string;
  /** The allowed values of `reply_type`. */
  replyTypes: readonly string[];
  /** The JSON schema of the answer, for `response_format: json_schema`. */
  schema: Record<string, unknown>;
}

export function workerAnswerFormat(name: string, replyTypes: readonly string[]): WorkerAnswerFormat {
  const schema = responseEnvelopeSchema({
    thought: { type: "string" },
    reply_type: { type: "string", enum: [...replyTypes] },
    reply_content: { type: "string" },
  });
  return { name, replyTypes, schema };
}
