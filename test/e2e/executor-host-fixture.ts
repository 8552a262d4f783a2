// A host process for executor-lifecycle.test.ts: starts a local kernel, prints its pid, then
// ends the way the test asks (normal exit, uncaught exception, or waiting for a signal).
import { createLocalExecutor } from "@taskweaver/executor";

const [mode = "wait", workingDirectory = "."] = process.argv.slice(2);
const executor = createLocalExecutor({ workingDirectory, python: process.env.TASKWEAVER_TEST_PYTHON });
const result = await executor.execute("import os\nos.getpid()");
// A program started by the code: it must go with the kernel.
const child = await executor.execute("import subprocess\nsubprocess.Popen(['sleep', '300']).pid");
if (mode === "own-sigint") process.on("SIGINT", () => console.log("SIGINT_HANDLED"));
console.log(`KERNEL_PID=${result.output} CHILD_PID=${child.output}`);
// The delays let the test see the kernel alive first.
if (mode === "exit") setTimeout(() => process.exit(0), 2_000);
else if (mode === "throw") {
  setTimeout(() => {
    throw new Error("crash on purpose");
  }, 2_000);
} else setInterval(() => undefined, 1_000);
