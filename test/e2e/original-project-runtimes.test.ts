// The fixture project shaped like the original's, on the container and remote runtimes: the
// working plugin runs in the first round, the broken ones are reported once and left out of the
// prompt, exactly as on the local runtime (original-project.test.ts).
import { afterAll, beforeAll, describe, it } from "vitest";
import { jupyterServerUnavailableReason, startJupyterServer, type JupyterServer } from "../src/jupyter-server.js";
import { startFakeOpenAIServer, type FakeOpenAIServer } from "../src/index.js";
import { dockerTestGate, requireEngine } from "./docker-support.js";
import { expectFirstRoundWithBrokenPlugins, prepareOriginalProject } from "./original-project-support.js";

const engine = await dockerTestGate("original-project-runtimes.test.ts");
const jupyterUnavailable = jupyterServerUnavailableReason();

let server: FakeOpenAIServer;
beforeAll(async () => {
  server = await startFakeOpenAIServer();
});
afterAll(async () => {
  await server.close();
});

describe.skipIf(engine.skip)("on the container runtime", () => {
  it("reports the broken plugins and runs the working one", { timeout: 120_000 }, async () => {
    const project = prepareOriginalProject(server, {
      "execution_service.kernel_mode": "container",
      "execution_service.docker.host": requireEngine(engine).endpoint.description,
    });
    try {
      await expectFirstRoundWithBrokenPlugins(server, project.appDir);
    } finally {
      project.remove();
    }
  });
});

describe.runIf(jupyterUnavailable === undefined || process.env.CI === "true")("on the remote runtime", () => {
  let jupyter: JupyterServer;
  beforeAll(async () => {
    if (jupyterUnavailable !== undefined) throw new Error(`jupyter server cannot run here: ${jupyterUnavailable}`);
    jupyter = await startJupyterServer();
  }, 60_000);
  afterAll(async () => {
    await jupyter?.close();
  }, 30_000);

  it("reports the broken plugins and runs the working one", { timeout: 120_000 }, async () => {
    const project = prepareOriginalProject(server, {
      "execution_service.kernel_mode": "remote",
      "execution_service.remote.url": jupyter.url,
      "execution_service.remote.token": jupyter.token,
    });
    try {
      await expectFirstRoundWithBrokenPlugins(server, project.appDir);
    } finally {
      project.remove();
    }
  });
});
