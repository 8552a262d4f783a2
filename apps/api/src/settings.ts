import { createHash, randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { AppConfig } from "@taskweaver/core";
import type { ApiLimits } from "./session-manager.js";

/** Limits used when neither the caller nor the config says otherwise. */
export const DEFAULT_LIMITS: ApiLimits = {
  maxSessions: 64,
  maxBodyBytes: 1_048_576,
  maxUploadBytes: 52_428_800,
  maxMessageChars: 20_000,
  sessionIdleTimeoutMs: 1_800_000,
  shutdownGracePeriodMs: 30_000,
  instanceLostTimeoutMs: 15_000,
};

/** The `api.*` limits of an app's configuration. */
export function limitsFromConfig(config: AppConfig): ApiLimits {
  return {
    maxSessions: config.get("api.max_sessions"),
    maxBodyBytes: config.get("api.max_body_bytes"),
    maxUploadBytes: config.get("api.max_upload_bytes"),
    maxMessageChars: config.get("api.max_message_chars"),
    sessionIdleTimeoutMs: config.get("api.session_idle_timeout") * 1000,
    shutdownGracePeriodMs: config.get("api.shutdown_grace_period") * 1000,
    instanceLostTimeoutMs: config.get("api.instance_lost_timeout") * 1000,
  };
}

/**
 * API keys from `TASKWEAVER_API_KEYS` (comma-separated) and the config key `api.keys`
 * (which also reads `API_KEYS`), blanks dropped, duplicates merged.
 */
export function apiKeysFrom(
  config: AppConfig | undefined,
  env: Record<string, string | undefined> = process.env,
): string[] {
  const fromEnv = (env.TASKWEAVER_API_KEYS ?? "").split(",");
  const fromConfig = config ? config.get("api.keys") : [];
  return [...new Set([...fromEnv, ...fromConfig].map((key) => key.trim()).filter((key) => key.length > 0))];
}

/** What the store keeps instead of a key: its SHA-256, hex. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  return (
    bare === "localhost" || bare === "::1" || /^127(\.\d{1,3}){3}$/.test(bare) || bare === "::ffff:127.0.0.1"
  );
}

/**
 * The PostgreSQL URL of the session store: the config key `api.database_url` (which also reads
 * `API_DATABASE_URL`), else the conventional `DATABASE_URL`; `undefined` keeps SQLite.
 */
export function databaseUrlFrom(
  config: AppConfig,
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  const url = [config.get("api.database_url"), env.DATABASE_URL].find(
    (candidate): candidate is string => candidate !== undefined && candidate.trim() !== "",
  );
  return url?.trim();
}

/** This process's name among the instances sharing a database: `api.instance_id`, else `<hostname>-<pid>-<random>`. */
export function instanceIdFrom(config: AppConfig | undefined): string {
  const configured = config?.get("api.instance_id")?.trim();
  if (configured) return configured;
  return `${hostname()}-${process.pid}-${randomBytes(4).toString("hex")}`;
}
