// Finds the Docker engine and executor image the Docker benchmarks need.
import { TaskWeaverError } from "@taskweaver/core";
import { createDockerEngineClient, DEFAULT_EXECUTOR_IMAGE, type DockerEngineClient } from "@taskweaver/executor";

/** The engine (`DOCKER_HOST`, else the private engine of scripts/docker-engine.sh), or why there is none. */
export async function findDockerEngine(): Promise<DockerEngineClient | string> {
  const candidates = process.env.DOCKER_HOST ? [undefined] : [undefined, "unix:///tmp/taskweaver-docker/docker.sock"];
  let reason = "";
  for (const host of candidates) {
    const client = createDockerEngineClient({ host });
    try {
      await client.ping({ timeoutMs: 3_000 });
      if (!(await client.imageExists(DEFAULT_EXECUTOR_IMAGE))) {
        return `the image ${DEFAULT_EXECUTOR_IMAGE} is missing (run packages/executor/docker/build-image.sh)`;
      }
      return client;
    } catch (error) {
      reason = TaskWeaverError.isInstance(error) ? error.message : String(error);
    }
  }
  return `no Docker engine (${reason}); start one with: eval "$(bash scripts/docker-engine.sh)"`;
}
