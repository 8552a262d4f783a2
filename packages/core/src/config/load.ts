import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { ConfigError } from "../errors.js";
import { CONFIG_KEYS, type ConfigKey, type ConfigValues } from "./keys.js";

export const CONFIG_FILE_NAME = "taskweaver_config.json";

/** Where a configuration value came from, for error messages and `/info`. */
export type ConfigOrigin =
  | { kind: "override" }
  | { kind: "environment"; variable: string }
  | { kind: "file"; path: string }
  | { kind: "default" };

/** The loaded configuration of one app directory. */
export interface AppConfig {
  /** Absolute path of the app directory (the folder holding `taskweaver_config.json`). */
  readonly appDir: string;
  /** Absolute path of the config file, if the app dir has one. */
  readonly configFile: string | undefined;
  /** Typed values of all known keys. */
  readonly values: Readonly<ConfigValues>;
  get<K extends ConfigKey>(key: K): ConfigValues[K];
  /** Any key, known or not, as found (override, environment, file); `undefined` when unset. */
  raw(key: string): unknown;
  /** Where the value of `key` came from. */
  origin(key: string): ConfigOrigin;
  /** A copy with some keys replaced (used for per-role LLM settings). */
  withOverrides(overrides: Record<string, unknown>): AppConfig;
}

export interface LoadConfigOptions {
  /** App directory; when absent, searched upward from `cwd` for `taskweaver_config.json`. */
  appDir?: string;
  /** @default process.cwd() */
  cwd?: string;
  /** @default process.env */
  env?: Record<string, string | undefined>;
  /** Highest-priority values, in dotted notation (`--config key=value`). */
  overrides?: Record<string, unknown>;
}

/** `llm.api_key` -> `LLM_API_KEY`, TaskWeaver's rule. */
export function environmentVariableFor(key: string): string {
  return key.toUpperCase().replace(/\./g, "_");
}

/** The nearest folder at or above `start` holding `taskweaver_config.json`. */
export function findAppDir(start: string): string | undefined {
  let current = resolve(start);
  for (;;) {
    if (existsSync(join(current, CONFIG_FILE_NAME))) return current;
    const parent = dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}

function describeOrigin(origin: ConfigOrigin): string {
  switch (origin.kind) {
    case "override":
      return "an explicit override (--config)";
    case "environment":
      return `environment variable ${origin.variable}`;
    case "file":
      return `the config file ${origin.path}`;
    case "default":
      return "the default";
  }
}

/** TaskWeaver files use flat dotted keys; nested objects are flattened so both styles work. */
function flatten(value: Record<string, unknown>, prefix = "", out: Record<string, unknown> = {}) {
  for (const [key, item] of Object.entries(value)) {
    const full = prefix ? `${prefix}.${key}` : key;
    const isPlainObject = typeof item === "object" && item !== null && !Array.isArray(item);
    // A known key whose value is an object (ext_llms.llm_configs) must not be flattened further.
    if (isPlainObject && !(full in CONFIG_KEYS)) flatten(item as Record<string, unknown>, full, out);
    else out[full] = item;
  }
  return out;
}

/** Environment and `--config` values are strings: convert them to the type the key expects. */
function coerceString(schema: z.ZodType, text: string): unknown {
  const trimmed = text.trim();
  let inner: z.ZodType = schema;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional) {
    inner = inner.unwrap() as z.ZodType;
  }
  if (inner instanceof z.ZodNumber) return trimmed === "" ? text : Number(trimmed);
  if (inner instanceof z.ZodBoolean) {
    if (/^(true|1|yes|on)$/i.test(trimmed)) return true;
    if (/^(false|0|no|off)$/i.test(trimmed)) return false;
    return text;
  }
  if (inner instanceof z.ZodArray || inner instanceof z.ZodRecord) {
    if (trimmed.startsWith("[") || trimmed.startsWith("{")) {
      try {
        return JSON.parse(trimmed);
      } catch {
        return text;
      }
    }
    if (inner instanceof z.ZodArray) return trimmed === "" ? [] : trimmed.split(",").map((part) => part.trim());
  }
  return text;
}

function expandAppDir(value: unknown, appDir: string): unknown {
  if (typeof value === "string") return value.replaceAll("${AppBaseDir}", appDir);
  if (Array.isArray(value)) return value.map((item) => expandAppDir(item, appDir));
  return value;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`Cannot read the config file ${path}: ${(error as Error).message}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = text.trim() === "" ? {} : JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `The config file ${path} is not valid JSON (${(error as Error).message}). ` +
        `It should hold one object of keys such as {"llm.model": "gpt-4o"}.`,
      { cause: error },
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`The config file ${path} must hold a JSON object of keys and values.`);
  }
  return flatten(parsed as Record<string, unknown>);
}

function build(
  appDir: string,
  configFile: string | undefined,
  layers: { origin: ConfigOrigin; values: Record<string, unknown> }[],
  env: Record<string, string | undefined>,
): AppConfig {
  const origins = new Map<string, ConfigOrigin>();
  const rawValues = new Map<string, unknown>();
  // Layers are given lowest priority first.
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer.values)) {
      rawValues.set(key, value);
      origins.set(key, layer.origin);
    }
  }
  // The environment sits between file and overrides.
  const overrideLayer = layers.find((layer) => layer.origin.kind === "override");
  const keys = new Set<string>([...Object.keys(CONFIG_KEYS), ...rawValues.keys()]);
  for (const key of keys) {
    if (overrideLayer && key in overrideLayer.values) continue;
    const variable = environmentVariableFor(key);
    const fromEnv = env[variable];
    if (fromEnv !== undefined && fromEnv !== "") {
      rawValues.set(key, fromEnv);
      origins.set(key, { kind: "environment", variable });
    }
  }

  const values: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(CONFIG_KEYS) as [ConfigKey, z.ZodType][]) {
    let value = rawValues.get(key);
    const origin = origins.get(key) ?? { kind: "default" };
    if (typeof value === "string" && origin.kind !== "file") value = coerceString(schema, value);
    const result = schema.safeParse(value === null ? undefined : value);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new ConfigError(
        `Config key "${key}" has the value ${JSON.stringify(rawValues.get(key))} from ${describeOrigin(origin)}, ` +
          `which is not valid: ${issue?.message ?? "wrong type"}.`,
      );
    }
    values[key] = expandAppDir(result.data, appDir);
  }
  const typedValues = values as ConfigValues;

  return {
    appDir,
    configFile,
    values: typedValues,
    get: (key) => typedValues[key],
    raw: (key) => {
      if (key in CONFIG_KEYS && rawValues.get(key) === undefined) return undefined;
      return expandAppDir(rawValues.get(key), appDir);
    },
    origin: (key) => origins.get(key) ?? { kind: "default" },
    withOverrides: (overrides) =>
      build(appDir, configFile, [...layers, { origin: { kind: "override" }, values: flatten(overrides) }], env),
  };
}

/**
 * Loads `taskweaver_config.json` from the app dir (given, or the nearest upward from `cwd`),
 * applies environment overrides and explicit overrides, fills defaults and validates types.
 * Throws `ConfigError` naming the key, the value and where it came from.
 */
export function loadConfig(options: LoadConfigOptions = {}): AppConfig {
  const cwd = options.cwd ?? process.cwd();
  let appDir: string;
  if (options.appDir !== undefined) {
    appDir = isAbsolute(options.appDir) ? options.appDir : resolve(cwd, options.appDir);
    if (!existsSync(appDir)) {
      throw new ConfigError(`The app directory ${appDir} does not exist. Pass the folder holding ${CONFIG_FILE_NAME}.`);
    }
  } else {
    const found = findAppDir(cwd);
    if (!found) {
      throw new ConfigError(
        `No ${CONFIG_FILE_NAME} found in ${cwd} or any folder above it. ` +
          `Pass the app directory with -p DIR, or create ${CONFIG_FILE_NAME} there.`,
      );
    }
    appDir = found;
  }
  const file = join(appDir, CONFIG_FILE_NAME);
  const configFile = existsSync(file) ? file : undefined;
  const fileValues = configFile ? readConfigFile(configFile) : {};
  const layers: { origin: ConfigOrigin; values: Record<string, unknown> }[] = [
    { origin: { kind: "file", path: file }, values: fileValues },
  ];
  if (options.overrides) layers.push({ origin: { kind: "override" }, values: flatten(options.overrides) });
  return build(appDir, configFile, layers, options.env ?? process.env);
}

/** Parses `key=value` strings (repeatable `--config`) into an overrides object. */
export function parseConfigAssignments(assignments: readonly string[]): Record<string, unknown> {
  const overrides: Record<string, unknown> = {};
  for (const assignment of assignments) {
    const index = assignment.indexOf("=");
    if (index <= 0) {
      throw new ConfigError(`"${assignment}" is not a config assignment; write it as key=value, e.g. llm.model=gpt-4o.`);
    }
    overrides[assignment.slice(0, index).trim()] = assignment.slice(index + 1);
  }
  return overrides;
}
