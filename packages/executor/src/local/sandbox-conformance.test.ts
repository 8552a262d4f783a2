import { spawnSync } from "node:child_process";
import { realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { ExecutorUnavailableError } from "@taskweaver/core";
import { afterAll } from "vitest";
import { describeConformance, describeWorkdirLimitConformance } from "../conformance/describe-conformance.js";
import type { KernelLauncher } from "../kernel-executor.js";
import { createForkKernelLauncher, forkSupported } from "./fork-kernel-launcher.js";
import { createLocalExecutor } from "./local-executor.js";
import { findPythonWithIpykernelSync } from "./python-discovery.js";
import { BUBBLEWRAP_HINT, type LocalSandboxOptions } from "./sandbox.js";

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

// The same suites on kernels forked from a sandboxed template. The suite makes its working
// directories under the temporary directory, so that is the template's working root here (an
// app's is its sessions folder). A kernel that was not forked fails the suite: the fallback throws.
const notForked: KernelLauncher = {
  launch: () => Promise.reject(new ExecutorUnavailableError("a sandboxed kernel was spawned instead of forked")),
};
const forkWarnings: string[] = [];
const sandboxedForkLauncher = (sandbox: LocalSandboxOptions, supportOptions?: { max_output_chars: number }) =>
  createForkKernelLauncher({
    resolvePython: () => Promise.resolve(python ?? "python3"),
    fallback: notForked,
    onWarning: (message) => forkWarnings.push(message),
    sandbox: { ...sandbox, workingRoots: [realpathSync(tmpdir())] },
    ...(supportOptions ? { supportOptions: { parent_pid: 1, ...supportOptions } } : {}),
  });
const forkReason = reason ?? (forkSupported() ? undefined : `forking kernels needs Linux, this is ${process.platform}`);
const CONFORMANCE_MAX_OUTPUT_CHARS = 20_000;
const sandboxLimits = { memoryBytes: 4 * 1024 ** 3, pidsLimit: 256 };
const forked = sandboxedForkLauncher(sandboxLimits);
const forkedInstalling = sandboxedForkLauncher(sandboxLimits, { max_output_chars: CONFORMANCE_MAX_OUTPUT_CHARS });
const forkedLimited = new Map<number, ReturnType<typeof sandboxedForkLauncher>>();
afterAll(async () => {
  await Promise.all([forked, forkedInstalling, ...forkedLimited.values()].map((launcher) => launcher.dispose()));
  if (forkWarnings.length > 0) throw new Error(`forking gave way: ${forkWarnings.join("; ")}`);
});

describeConformance(
  "local sandboxed (bwrap, forked kernels)",
  ({ workingDirectory, maxOutputChars, interruptGraceMs }) =>
    createLocalExecutor({ workingDirectory, maxOutputChars, interruptGraceMs, launcher: forked, sandbox: { mode: "bwrap" } }),
  { unavailableReason: forkReason },
);

describeConformance(
  "local sandboxed (bwrap, forked kernels with the support code installed by the fork)",
  ({ workingDirectory, maxOutputChars, interruptGraceMs }) => {
    if (maxOutputChars !== CONFORMANCE_MAX_OUTPUT_CHARS) throw new Error(`the suite now asks for ${maxOutputChars} characters`);
    return createLocalExecutor({
      workingDirectory,
      maxOutputChars,
      interruptGraceMs,
      launcher: forkedInstalling,
      sandbox: { mode: "bwrap" },
    });
  },
  { unavailableReason: forkReason },
);

describeWorkdirLimitConformance(
  "local sandboxed (bwrap, forked kernels)",
  ({ workingDirectory, maxWorkdirBytes, interruptGraceMs }) => {
    let launcher = forkedLimited.get(maxWorkdirBytes);
    if (!launcher) {
      launcher = sandboxedForkLauncher({ ...sandboxLimits, tmpfsBytes: maxWorkdirBytes });
      forkedLimited.set(maxWorkdirBytes, launcher);
    }
    return createLocalExecutor({ workingDirectory, maxWorkdirBytes, interruptGraceMs, launcher, sandbox: { mode: "bwrap" } });
  },
  { unavailableReason: forkReason },
);
