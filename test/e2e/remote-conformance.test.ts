// The shared CodeExecutor conformance suite, run against the remote runtime on a real
// `jupyter server` started for this file.
import { basename } from "node:path";
import { describeConformance } from "@taskweaver/executor/conformance";
import { afterAll, beforeAll } from "vitest";
// The remote runtime is not exported from the package entry yet (see the remote runtime's report).
import { createRemoteExecutor } from "../../packages/executor/src/remote/index.js";
import {
  jupyterServerUnavailableReason,
  startJupyterServer,
  type JupyterServer,
} from "../src/jupyter-server.js";

const unavailableReason = jupyterServerUnavailableReason();
let server: JupyterServer | undefined;

beforeAll(async () => {
  if (unavailableReason === undefined) server = await startJupyterServer();
}, 60_000);
afterAll(async () => {
  await server?.close();
}, 30_000);

describeConformance(
  "remote (Jupyter Server, Contents API)",
  ({ workingDirectory, maxOutputChars, interruptGraceMs }) =>
    createRemoteExecutor({
      url: server!.url,
      token: server!.token,
      // Each executor gets its own folder on the server, named like its host temp folder.
      sessionId: basename(workingDirectory),
      maxOutputChars,
      interruptGraceMs,
    }),
  { unavailableReason },
);
