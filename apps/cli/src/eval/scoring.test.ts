import { describe, expect, it } from "vitest";
import type { ScoringPoint } from "./case-file.js";
import { scorePoints } from "./scoring.js";

const points: ScoringPoint[] = [
  { scorePoint: "mean is right", weight: 3, evalCode: undefined },
  { scorePoint: "file written", weight: 1, evalCode: "assert True" },
  { scorePoint: "chart shown", weight: 1, evalCode: undefined },
];

describe("scorePoints", () => {
  it("sums the weights hit and normalizes by the total weight, judging each point its own way", async () => {
    const asked: string[] = [];
    const score = await scorePoints(points, {
      byCode: async (code) => {
        asked.push(`code:${code}`);
        return { isHit: true, reason: "eval_code passed" };
      },
      byModel: async (point) => {
        asked.push(`model:${point.scorePoint}`);
        return point.scorePoint === "mean is right" ? { isHit: true, reason: "yes" } : { isHit: false, reason: "no chart" };
      },
    });
    expect(asked).toEqual(["model:mean is right", "code:assert True", "model:chart shown"]);
    expect(score).toMatchObject({ score: 4, maxScore: 5, normalizedScore: 0.8 });
    expect(score.points.map((point) => [point.judgedBy, point.isHit])).toEqual([
      ["model", true],
      ["code", true],
      ["model", false],
    ]);
  });

  it("rejects when a judge cannot be asked, so the case counts as not run rather than scored 0", async () => {
    await expect(
      scorePoints(points, {
        byCode: async () => ({ isHit: true, reason: "" }),
        byModel: async () => {
          throw new Error("model unreachable");
        },
      }),
    ).rejects.toThrow("model unreachable");
  });
});
