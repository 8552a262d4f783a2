/** Options of `describeConformance` and the suites beside it. */
export interface ConformanceOptions {
  /**
   * Why the runtime cannot run here (no Python with ipykernel, no Docker, no server). The suite
   * is skipped then, except under `CI=true`, where it fails with this reason.
   */
  unavailableReason?: string;
  /** Per-test timeout. @default 120000 */
  testTimeoutMs?: number;
}
