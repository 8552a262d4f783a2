import { spawnSync } from "node:child_process";
import { describeConformance, describeWorkdirLimitConformance } from "../conformance/describe-conformance.js";
import { createLocalExecutor } from "./local-executor.js";
import { findPythonWithIpykernelSync } from "./python-discovery.js";
import { BUBBLEWRAP_HINT } from "./sandbox.js";

/** Why the sandboxed runtime cannot run here (no Python with ipykernel, or no working bwrap). */
function sandboxUnavailable(): { python?: string; reason?: string } {
  let python: string;
  try {
    python = findPythonWithIpykernelSync({ configured: process.env.TASKWEAVER_TEST_PYTHON });
  } catch (error) {
    return { reason: (error as Error).message };
  }
  const probe = spawnSync(
    "bwrap",
    ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-net", "--unshare-pid", "true"],
    { encoding: "utf8" },
  );
  if (probe.status !== 0) {
    return {
      python,
      reason: `bwrap does not work (${probe.error?.message ?? probe.stderr.trim()}). ${BUBBLEWRAP_HINT}`,
    };
  }
  return { python };
}

const { python, reason } = sandboxUnavailable();

// Under CI=true an unavailable runtime fails (describeConformance), so a missing bwrap is not a skip.
describeConformance(
  "local sandboxed (bwrap)",
  ({ workingDirectory, maxOutputChars, interruptGraceMs }) =>
    createLocalExecutor({
      workingDirectory,
      python,
      maxOutputChars,
      interruptGraceMs,
      sandbox: {
        mode: "bwrap",
        // The defaults of execution_service.local.memory and .pids_limit.
        memoryBytes: 4 * 1024 ** 3,
        pidsLimit: 256,
      },
    }),
  { unavailableReason: reason },
);

describeWorkdirLimitConformance(
  "local sandboxed (bwrap)",
  ({ workingDirectory, maxWorkdirBytes, interruptGraceMs }) =>
    createLocalExecutor({
      workingDirectory,
      python,
      maxWorkdirBytes,
      interruptGraceMs,
      sandbox: { mode: "bwrap", memoryBytes: 4 * 1024 ** 3, pidsLimit: 256, tmpfsBytes: maxWorkdirBytes },
    }),
  { unavailableReason: reason },
);
