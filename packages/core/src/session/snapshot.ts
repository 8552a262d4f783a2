import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod";
import type {
  KernelSnapshot,
  SnapshotLoss,
  SnapshotModule,
  SnapshotRestoreResult,
} from "../executor/contract.js";

/** The first line of a snapshot file; the number is the file format's version. */
const MAGIC = "TASKWEAVER-KERNEL-SNAPSHOT";
export const SNAPSHOT_FORMAT_VERSION = 1;

const headerSchema = z.object({
  format_version: z.literal(SNAPSHOT_FORMAT_VERSION),
  created_at: z.string(),
  serializer: z.enum(["dill", "pickle"]),
  saved: z.array(z.object({ name: z.string(), type: z.string() })),
  modules: z.array(z.object({ name: z.string(), module: z.string() })),
  lost: z.array(z.object({ name: z.string(), reason: z.string() })),
  payload_bytes: z.number().int().nonnegative(),
  payload_sha256: z.string(),
});

/** What a saved snapshot holds, as `Session.saveSnapshot` reports it. */
export interface SessionSnapshotSummary {
  /** `false` when there was nothing to save from (no kernel running). */
  saved: boolean;
  /** Where the snapshot file is (the session's folder). */
  path: string;
  /** Size of the file in bytes. */
  bytes: number;
  createdAt: string;
  serializer: "dill" | "pickle";
  /** Values saved, by name, with their Python type. */
  values: { name: string; type: string }[];
  modules: SnapshotModule[];
  /** What was not saved, by name, with why. */
  lost: SnapshotLoss[];
}

/** A snapshot file read back: its header and the kernel's payload. */
interface SnapshotFile {
  header: z.infer<typeof headerSchema>;
  payload: Uint8Array;
}

/** Lays out a snapshot file: a magic line with the format version, a JSON header line, the payload. */
export function encodeSnapshotFile(snapshot: KernelSnapshot, createdAt: string): Uint8Array {
  const header: z.infer<typeof headerSchema> = {
    format_version: SNAPSHOT_FORMAT_VERSION,
    created_at: createdAt,
    serializer: snapshot.serializer,
    saved: snapshot.saved,
    modules: snapshot.modules,
    lost: snapshot.lost,
    payload_bytes: snapshot.payload.byteLength,
    payload_sha256: createHash("sha256").update(snapshot.payload).digest("hex"),
  };
  const head = Buffer.from(`${MAGIC} ${SNAPSHOT_FORMAT_VERSION}\n${JSON.stringify(header)}\n`, "utf8");
  return Buffer.concat([head, snapshot.payload]);
}

/** Reads a snapshot file laid out by {@link encodeSnapshotFile}; throws with a reason when it is not one. */
export function decodeSnapshotFile(data: Uint8Array): SnapshotFile {
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const firstEnd = buffer.indexOf(0x0a);
  const magic = firstEnd < 0 ? "" : buffer.subarray(0, firstEnd).toString("utf8");
  if (!magic.startsWith(`${MAGIC} `)) throw new Error("not a TaskWeaver kernel snapshot");
  const version = magic.slice(MAGIC.length + 1);
  if (version !== String(SNAPSHOT_FORMAT_VERSION)) {
    throw new Error(
      `snapshot format version ${version}; this version of TaskWeaver reads ${SNAPSHOT_FORMAT_VERSION}`,
    );
  }
  const secondEnd = buffer.indexOf(0x0a, firstEnd + 1);
  if (secondEnd < 0) throw new Error("the header is cut off");
  let header: z.infer<typeof headerSchema>;
  try {
    header = headerSchema.parse(JSON.parse(buffer.subarray(firstEnd + 1, secondEnd).toString("utf8")));
  } catch {
    throw new Error("the header is damaged");
  }
  const payload = buffer.subarray(secondEnd + 1);
  if (payload.byteLength !== header.payload_bytes) {
    throw new Error(`the payload has ${payload.byteLength} bytes, the header says ${header.payload_bytes}`);
  }
  if (createHash("sha256").update(payload).digest("hex") !== header.payload_sha256) {
    throw new Error("the payload's checksum does not match");
  }
  return { header, payload: new Uint8Array(payload) };
}

/** Writes a file so that a reader sees the old one or the new one, never half of it. */
export async function writeFileAtomically(path: string, data: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${randomBytes(4).toString("hex")}`;
  try {
    await writeFile(temporary, data);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
}

/** The snapshot file's payload, or why it cannot be used; `undefined` when there is none. */
export async function readSnapshotFile(
  path: string,
): Promise<{ file: SnapshotFile } | { error: string } | undefined> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    return { error: `the file could not be read (${(error as Error).message})` };
  }
  try {
    return { file: decodeSnapshotFile(data) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

function names(items: readonly { name: string }[]): string {
  return items.map((item) => item.name).join(", ");
}

function losses(lost: readonly SnapshotLoss[]): string {
  return lost.map((item) => `${item.name} (${item.reason})`).join("; ");
}

/** The note the model gets with the next message after a restore (or a failed one). */
export function describeRestore(result: SnapshotRestoreResult, createdAt: string | undefined): string {
  const when = createdAt ? ` (saved ${createdAt})` : "";
  if (result.error !== undefined) {
    return `[Note: the kernel's saved state${when} could not be restored: ${result.error}. The kernel started clean: variables and imports of earlier rounds must be recreated.]`;
  }
  const parts: string[] = [];
  if (result.restored.length > 0) parts.push(`variables restored: ${names(result.restored)}`);
  if (result.modules.length > 0) {
    parts.push(
      `modules imported again: ${result.modules.map((item) => (item.name === item.module ? item.name : `${item.module} as ${item.name}`)).join(", ")}`,
    );
  }
  if (parts.length === 0) parts.push("nothing in it could be restored");
  const lost = result.lost.length > 0 ? ` Not restored, recreate before use: ${losses(result.lost)}.` : "";
  return `[Note: the kernel was stopped and its saved state${when} restored into the new kernel; ${parts.join("; ")}.${lost} Anything else from earlier rounds is gone.]`;
}
