// Kernel snapshots with the container runtime: the snapshot moves through the container's
// mounted working directory and lives in the session's folder on the host. Functions survive
// only with dill in the image (python3-dill, added to the Dockerfile and build-image.sh): an
// image built before that keeps the values and names the functions as lost, loudly; under
// CI=true, where the image is built fresh, a missing dill is a failure.
import { createDockerExecutor } from "../../packages/executor/src/docker/index.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dockerTestGate, isCi } from "./docker-support.js";
import { describeSnapshotScenarios } from "./snapshot-support.js";

const engine = await dockerTestGate("snapshot-docker.test.ts");

/** Whether the image's Python has dill, asked of a real container of it. */
async function imageHasDill(): Promise<boolean> {
  if (!engine.available || !engine.client) return false;
  const workingDirectory = mkdtempSync(join(tmpdir(), "tw-dill-probe-"));
  const executor = createDockerExecutor({
    workingDirectory,
    client: engine.client,
    security: { image: engine.image },
  });
  try {
    await executor.start();
    const result = await executor.execute(
      "import importlib.util\nimportlib.util.find_spec('dill') is not None",
    );
    return result.output === "True";
  } finally {
    await executor.stop();
    rmSync(workingDirectory, { recursive: true, force: true });
  }
}

const hasDill = await imageHasDill();
if (engine.available && !hasDill) {
  const message = `the image ${engine.image} has no dill: rebuild it (bash packages/executor/docker/build-image.sh) so that functions are kept`;
  if (isCi) throw new Error(message);
  console.warn(`\n*** snapshot-docker.test.ts: ${message}; checking values only ***\n`);
}

describeSnapshotScenarios("container", {
  unavailableReason: () => (engine.available ? undefined : engine.reason),
  config: () => ({
    "execution_service.kernel_mode": "container",
    "execution_service.custom_image": engine.image,
  }),
  functionsKept: () => hasDill,
});
