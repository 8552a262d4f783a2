import { ConfigError, type AppConfig, type ConfigValues } from "@taskweaver/core";
import { CONFIG_KEYS, type ConfigKey } from "@taskweaver/core/internal";

/**
 * The defaults of the container settings live in one place, core's `execution_service.docker.*`
 * config keys; this reads them for callers without an `AppConfig` (tests, benchmarks, library
 * users calling `createDockerExecutor` directly).
 */
const configDefaults: Pick<AppConfig, "get"> = {
  get: <K extends ConfigKey>(key: K) => CONFIG_KEYS[key].parse(undefined) as ConfigValues[K],
};

/** The image used when `execution_service.custom_image` is not set. */
export const DEFAULT_EXECUTOR_IMAGE = "taskweaver-executor:latest";

/** The unprivileged user of the default image (`execution_service.docker.user`'s default). */
export const DEFAULT_CONTAINER_USER = configDefaults.get("execution_service.docker.user");

/** Labels that mark the containers this package manages (used for cleanup). */
export const MANAGED_LABEL = "io.taskweaver.managed";
export const HOST_PID_LABEL = "io.taskweaver.host-pid";
export const HOST_NAME_LABEL = "io.taskweaver.host-name";
export const SESSION_LABEL = "io.taskweaver.session-id";
export const IPC_DIR_LABEL = "io.taskweaver.ipc-dir";

/**
 * How kernel containers are created. Every field has a safe default; loosening one (network,
 * writable root, capabilities) is a deliberate choice in the configuration.
 */
export interface ContainerSecurityOptions {
  /** Image holding Python with ipykernel. @default "taskweaver-executor:latest" */
  image: string;
  /** Docker network mode. @default "none" (no network at all) */
  networkMode: string;
  /** Memory limit in bytes; swap is disabled at the same limit. @default 1 GiB */
  memoryBytes: number;
  /** CPU limit in CPUs (fractions allowed). @default 1 */
  cpus: number;
  /** Maximum number of processes and threads. @default 256 */
  pidsLimit: number;
  /**
   * `uid[:gid]` the kernel runs as. When the host process is not root and this is the default,
   * the kernel runs as the host's own (equally unprivileged) uid and gid instead, so the host can
   * share its directories without opening them to other local users.
   * @default "10001:10001"
   */
  user: string;
  /** Mount the image read-only; only the working directory and /tmp are writable. @default true */
  readOnlyRoot: boolean;
  /** Linux capabilities to drop. @default ["ALL"] */
  capDrop: string[];
  /** Forbid privilege gain through setuid binaries. @default true */
  noNewPrivileges: boolean;
  /** Size of the tmpfs mounted on /tmp. @default "256m" */
  tmpfsSize: string;
  /** Where the session's working directory appears inside the container. @default "/home/taskweaver/cwd" */
  containerWorkingDirectory: string;
  /** Host directory for the kernel's ZeroMQ ipc sockets; keep it short (unix socket paths are limited to 107 bytes). @default "/tmp/taskweaver-ipc" */
  ipcDirectory: string;
  /** Python command inside the image. @default "python3" */
  python: string;
  /** Seconds to wait for the kernel to answer after the container starts. @default 60 */
  startTimeoutSeconds: number;
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
};

/** Parses Docker-style sizes: `512m`, `1g`, `1.5g`, `1073741824`. */
export function parseSize(text: string, key = "size"): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new ConfigError(`${key} must be a size such as "512m" or "1g", not "${text}".`);
  }
  const bytes = Math.floor(Number(match[1]) * unit);
  if (bytes <= 0) throw new ConfigError(`${key} must be larger than zero, not "${text}".`);
  return bytes;
}

/** The numeric uid and gid of a `uid[:gid]` user, when both are numeric. */
export function parseNumericUser(user: string): { uid: number; gid: number } | undefined {
  const match = /^(\d+)(?::(\d+))?$/.exec(user.trim());
  if (!match) return undefined;
  const uid = Number(match[1]);
  return { uid, gid: match[2] === undefined ? uid : Number(match[2]) };
}

/** Reads the `execution_service.docker.*` keys (and `custom_image`) into options. */
export function containerOptionsFromConfig(config: Pick<AppConfig, "get">): ContainerSecurityOptions {
  return {
    image: config.get("execution_service.custom_image")?.trim() || DEFAULT_EXECUTOR_IMAGE,
    networkMode: config.get("execution_service.docker.network_mode"),
    memoryBytes: parseSize(config.get("execution_service.docker.memory"), "execution_service.docker.memory"),
    cpus: config.get("execution_service.docker.cpus"),
    pidsLimit: config.get("execution_service.docker.pids_limit"),
    user: config.get("execution_service.docker.user"),
    readOnlyRoot: config.get("execution_service.docker.read_only_root"),
    capDrop: config.get("execution_service.docker.cap_drop"),
    noNewPrivileges: config.get("execution_service.docker.no_new_privileges"),
    tmpfsSize: config.get("execution_service.docker.tmpfs_size"),
    containerWorkingDirectory: config.get("execution_service.docker.container_working_dir"),
    ipcDirectory: config.get("execution_service.docker.ipc_dir"),
    python: config.get("execution_service.docker.python"),
    startTimeoutSeconds: config.get("execution_service.docker.start_timeout"),
  };
}

/** The defaults (those of the config keys), for callers without an AppConfig. */
export function defaultContainerOptions(overrides: Partial<ContainerSecurityOptions> = {}): ContainerSecurityOptions {
  return { ...containerOptionsFromConfig(configDefaults), ...overrides };
}
