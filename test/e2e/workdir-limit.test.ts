// The working-directory limit (execution_service.max_workdir_bytes) of the conformance suite, run
// against the container runtime on a real engine and the remote runtime on a real Jupyter Server.
import { basename } from "node:path";
import { describeWorkdirLimitConformance } from "@taskweaver/executor/conformance";
import { afterAll, beforeAll } from "vitest";
import { createDockerExecutor } from "../../packages/executor/src/docker/index.js";
import { createRemoteExecutor } from "../../packages/executor/src/remote/index.js";
import { findDockerTestEngine } from "./docker-support.js";
import {
  jupyterServerUnavailableReason,
  startJupyterServer,
  type JupyterServer,
} from "../src/jupyter-server.js";

const engine = await findDockerTestEngine();
if (!engine.available && process.env.CI !== "true") {
  console.warn(`\n*** SKIPPING the docker part of workdir-limit.test.ts: ${engine.reason} ***\n`);
}

describeWorkdirLimitConformance(
  "docker",
  ({ workingDirectory, maxWorkdirBytes, interruptGraceMs }) =>
    createDockerExecutor({
      workingDirectory,
      maxWorkdirBytes,
      interruptGraceMs,
      client: engine.client,
      security: { image: engine.image },
    }),
  { unavailableReason: engine.available ? undefined : engine.reason, testTimeoutMs: 180_000 },
);

const unavailableReason = jupyterServerUnavailableReason();
let server: JupyterServer | undefined;
beforeAll(async () => {
  if (unavailableReason === undefined) server = await startJupyterServer();
}, 60_000);
afterAll(async () => {
  await server?.close();
}, 30_000);

describeWorkdirLimitConformance(
  "remote (Jupyter Server)",
  ({ workingDirectory, maxWorkdirBytes, interruptGraceMs }) =>
    createRemoteExecutor({
      url: server!.url,
      token: server!.token,
      sessionId: basename(workingDirectory),
      maxWorkdirBytes,
      interruptGraceMs,
    }),
  { unavailableReason },
);
