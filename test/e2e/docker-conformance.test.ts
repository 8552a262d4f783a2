// The conformance suite every runtime passes, run against the Docker runtime on a real engine.
import { describeConformance } from "../../packages/executor/src/conformance/describe-conformance.js";
import { createDockerExecutor } from "../../packages/executor/src/docker/index.js";
import { findDockerTestEngine } from "./docker-support.js";

const engine = await findDockerTestEngine();
if (!engine.available && process.env.CI !== "true") {
  console.warn(`\n*** SKIPPING docker-conformance.test.ts: ${engine.reason} ***\n`);
}

describeConformance(
  "docker",
  ({ workingDirectory, maxOutputChars, interruptGraceMs }) =>
    createDockerExecutor({
      workingDirectory,
      maxOutputChars,
      interruptGraceMs,
      client: engine.client,
      security: { image: engine.image },
    }),
  { unavailableReason: engine.available ? undefined : engine.reason, testTimeoutMs: 180_000 },
);
