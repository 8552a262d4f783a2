import {
  type AppConfig,
  type ConfigValues,
  type ExecutorFactory,
} from "@taskweaver/core";
import { createDockerExecutorFactory } from "./docker/docker-executor.js";
import { createLocalExecutorFactory } from "./local/local-executor.js";
import { createRemoteExecutorFactory } from "./remote/remote-executor.js";

/** The values of `execution_service.kernel_mode`. */
export type KernelMode = ConfigValues["execution_service.kernel_mode"];

/**
 * Builds a runtime's executor factory for one app. Called once per app, so a runtime can keep
 * app-wide state there (discovered Python, Docker client, warm pool).
 */
export type RuntimeFactory = (config: AppConfig) => ExecutorFactory;

/**
 * The runtimes by `execution_service.kernel_mode`. Each runtime registers itself here with one
 * line; `createExecutorFactory` picks from this table.
 */
export const runtimes: Record<KernelMode, RuntimeFactory> = {
  local: createLocalExecutorFactory,
  container: createDockerExecutorFactory,
  remote: (config) => createRemoteExecutorFactory(config),
};

/** Options of `createExecutorFactory`. */
export interface CreateExecutorFactoryOptions {
  /** Replaces entries of `runtimes` (tests, embedders with their own runtime). */
  runtimes?: Partial<Record<KernelMode, RuntimeFactory>>;
}

/**
 * The executor factory for an app, chosen by `execution_service.kernel_mode`. A runtime checks
 * its settings here (e.g. the remote URL), so a bad setting fails when the app starts. A runtime
 * with app-wide resources (the local warm pool) adds `dispose()`, which stops them; one whose
 * kernels sometimes start in milliseconds (forked, pooled) adds `startsQuickly()`.
 */
export function createExecutorFactory(
  config: AppConfig,
  options: CreateExecutorFactoryOptions = {},
): ExecutorFactory & { dispose?: () => Promise<void>; startsQuickly?: () => boolean } {
  const mode = config.get("execution_service.kernel_mode");
  const runtime = options.runtimes?.[mode] ?? runtimes[mode];
  return runtime(config);
}
