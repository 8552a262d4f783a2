import { SpanStatusCode, trace, type Span } from "@opentelemetry/api";
import type { CaseScore, PointResult } from "./scoring.js";

/** The GenAI semantic conventions' event for one evaluation score. */
export const EVALUATION_EVENT = "gen_ai.evaluation.result";

const TRACER_NAME = "@taskweaver/cli/eval";

/**
 * Runs one case inside an active span `evaluate {case}`, so the session's own spans (rounds,
 * model calls, executions) nest under it when tracing is on. Without an OpenTelemetry SDK
 * registered, `@opentelemetry/api` makes all of this a no-op.
 */
export function withCaseSpan<T>(caseName: string, run: (span: Span) => Promise<T>): Promise<T> {
  return trace.getTracer(TRACER_NAME).startActiveSpan(`evaluate ${caseName}`, async (span) => {
    span.setAttribute("taskweaver.eval.case", caseName);
    try {
      return await run(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Emits a scoring point's result as a `gen_ai.evaluation.result` event on the active span. */
export function emitPointResult(caseName: string, point: PointResult): void {
  trace.getActiveSpan()?.addEvent(EVALUATION_EVENT, {
    "gen_ai.evaluation.name": point.scorePoint,
    "gen_ai.evaluation.score.value": point.isHit ? point.weight : 0,
    "gen_ai.evaluation.score.label": point.isHit ? "hit" : "miss",
    "gen_ai.evaluation.explanation": point.reason,
    "taskweaver.eval.case": caseName,
    "taskweaver.eval.weight": point.weight,
    "taskweaver.eval.judged_by": point.judgedBy,
  });
}

/** Emits a case's normalized score as a `gen_ai.evaluation.result` event on the active span. */
export function emitCaseScore(caseName: string, score: CaseScore): void {
  trace.getActiveSpan()?.addEvent(EVALUATION_EVENT, {
    "gen_ai.evaluation.name": "normalized_score",
    "gen_ai.evaluation.score.value": score.normalizedScore,
    "gen_ai.evaluation.explanation": `${score.score} of ${score.maxScore}`,
    "taskweaver.eval.case": caseName,
  });
}
