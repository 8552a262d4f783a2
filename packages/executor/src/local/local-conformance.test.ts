import { describeConformance } from "../conformance/describe-conformance.js";
import { createLocalExecutor } from "./local-executor.js";
import { findPythonWithIpykernelSync } from "./python-discovery.js";

let python: string | undefined;
let unavailableReason: string | undefined;
try {
  python = findPythonWithIpykernelSync({ configured: process.env.TASKWEAVER_TEST_PYTHON });
} catch (error) {
  unavailableReason = (error as Error).message;
}

describeConformance(
  "local",
  ({ workingDirectory, maxOutputChars, interruptGraceMs }) =>
    createLocalExecutor({ workingDirectory, python, maxOutputChars, interruptGraceMs }),
  { unavailableReason },
);
