import type { ScoringPoint } from "./case-file.js";
import type { Verdict } from "./judge.js";

/** The result of one scoring point. */
export interface PointResult {
  scorePoint: string;
  weight: number;
  /** `code`: its `eval_code` ran in the kernel; `model`: the model judged it. */
  judgedBy: "code" | "model";
  isHit: boolean;
  reason: string;
}

/** The weighted score of a case. */
export interface CaseScore {
  /** Sum of the weights of the points hit. */
  score: number;
  /** Sum of all weights. */
  maxScore: number;
  /** `score / maxScore`, between 0 and 1. */
  normalizedScore: number;
  points: PointResult[];
}

/** How each kind of point is judged; the runner passes the kernel and the model. */
export interface PointJudges {
  byCode(code: string, point: ScoringPoint): Promise<Verdict>;
  byModel(point: ScoringPoint): Promise<Verdict>;
}

/**
 * Judges every point, one after the other (eval code shares the session's kernel), and sums
 * the weights hit. A judge that rejects (the model cannot be reached, the recording has no
 * answer) rejects the whole scoring: that case could not be evaluated.
 */
export async function scorePoints(
  points: readonly ScoringPoint[],
  judges: PointJudges,
  onPoint?: (result: PointResult) => void,
): Promise<CaseScore> {
  const results: PointResult[] = [];
  for (const point of points) {
    const verdict =
      point.evalCode !== undefined ? await judges.byCode(point.evalCode, point) : await judges.byModel(point);
    const result: PointResult = {
      scorePoint: point.scorePoint,
      weight: point.weight,
      judgedBy: point.evalCode !== undefined ? "code" : "model",
      isHit: verdict.isHit,
      reason: verdict.reason,
    };
    results.push(result);
    onPoint?.(result);
  }
  return summarize(results);
}

/** Weighted and normalized score of judged points. */
export function summarize(points: PointResult[]): CaseScore {
  const maxScore = points.reduce((sum, point) => sum + point.weight, 0);
  const score = points.reduce((sum, point) => sum + (point.isHit ? point.weight : 0), 0);
  return { score, maxScore, normalizedScore: maxScore > 0 ? score / maxScore : 0, points };
}
