import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { TaskWeaverError } from "@taskweaver/core";
import {
  createDockerEngineClient,
  DEFAULT_EXECUTOR_IMAGE,
  type DockerEngineClient,
} from "../../packages/executor/src/docker/index.js";

/**
 * Finds (or starts) the Docker engine for the Docker e2e tests. Order: `DOCKER_HOST`; the
 * private engine of scripts/docker-engine.sh if it already runs; otherwise that script is run
 * (it needs root). The image is never built here (minutes): CI builds it in scripts/test.sh, and
 * the skip reason says how to build it locally.
 */
export interface DockerTestEngine {
  available: boolean;
  /** Why the Docker tests cannot run, when they cannot. */
  reason: string;
  client: DockerEngineClient | undefined;
  image: string;
}

const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const privateSocket = "/tmp/taskweaver-docker/docker.sock";

async function answers(client: DockerEngineClient): Promise<boolean> {
  try {
    await client.ping({ timeoutMs: 3_000 });
    return true;
  } catch {
    return false;
  }
}

export const isCi = process.env.CI === "true";

export async function findDockerTestEngine(): Promise<DockerTestEngine> {
  const image = process.env.TASKWEAVER_TEST_IMAGE ?? DEFAULT_EXECUTOR_IMAGE;
  const unavailable = (reason: string): DockerTestEngine => ({ available: false, reason, client: undefined, image });

  let client: DockerEngineClient | undefined;
  if (process.env.DOCKER_HOST) {
    client = createDockerEngineClient();
    if (!(await answers(client))) return unavailable(`DOCKER_HOST=${process.env.DOCKER_HOST} does not answer`);
  } else if (existsSync(privateSocket) && (await answers(createDockerEngineClient({ host: `unix://${privateSocket}` })))) {
    client = createDockerEngineClient({ host: `unix://${privateSocket}` });
  } else {
    try {
      const output = execFileSync("bash", [join(repositoryRoot, "scripts", "docker-engine.sh")], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        timeout: 120_000,
      });
      const host = /export DOCKER_HOST=(\S+)/.exec(output)?.[1];
      if (!host) return unavailable(`scripts/docker-engine.sh printed no DOCKER_HOST: ${output}`);
      client = createDockerEngineClient({ host });
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? String(error);
      return unavailable(`no Docker engine, and scripts/docker-engine.sh could not start one: ${stderr.trim()}`);
    }
  }
  // Executors created without an explicit client read DOCKER_HOST.
  process.env.DOCKER_HOST = client.endpoint.description;
  try {
    if (!(await client.imageExists(image))) {
      return unavailable(
        `the image ${image} is missing: run \`eval "$(bash scripts/docker-engine.sh)" && bash packages/executor/docker/build-image.sh\``,
      );
    }
  } catch (error) {
    return unavailable(TaskWeaverError.isInstance(error) ? error.message : String(error));
  }
  return { available: true, reason: "", client, image };
}

/**
 * Decides, once per test file, whether the Docker tests run: they run when the engine is there;
 * under CI=true they also run without it (and fail with the reason); otherwise they are skipped
 * with the reason printed loudly.
 */
export async function dockerTestGate(fileName: string): Promise<DockerTestEngine & { skip: boolean }> {
  const engine = await findDockerTestEngine();
  const skip = !engine.available && !isCi;
  if (skip) {
    console.warn(`\n*** SKIPPING ${fileName}: ${engine.reason} ***\n`);
  }
  return { ...engine, skip };
}

/** Throws the reason when the engine is missing (used in beforeAll, so CI fails loudly). */
export function requireEngine(engine: DockerTestEngine): DockerEngineClient {
  if (!engine.available || !engine.client) {
    throw new Error(`Docker tests need a Docker engine and the executor image: ${engine.reason}`);
  }
  return engine.client;
}
