import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "yaml";
import { TaskWeaverError } from "../errors.js";
import type { Conversation, Round } from "../memory/types.js";

/** The raw experience file of a session: `raw_exp_<session id>.yaml`. */
export function rawExperienceFileName(sessionId: string): string {
  return `raw_exp_${sessionId}.yaml`;
}

/** The processed experience file (lesson text and embedding): `exp_<id>.yaml`. */
export function experienceFileName(id: string): string {
  return `exp_${id}.yaml`;
}

export interface SaveExperienceOptions {
  /** Where experience files live (`session.experience_dir`). Created when missing. */
  experienceDir: string;
  sessionId: string;
}

export interface SavedExperience {
  /** Absolute path of the raw file written. */
  path: string;
  /** Finished rounds saved (failed and unfinished rounds are left out). */
  roundCount: number;
}

/** Session ids become file names: refuse anything that could leave the folder. */
function assertSafeId(sessionId: string): void {
  if (!/^[A-Za-z0-9_.-]+$/.test(sessionId) || sessionId.startsWith(".")) {
    throw new TaskWeaverError("experience_invalid_id", `"${sessionId}" cannot name an experience file (letters, digits, "-", "_" and "." only).`);
  }
}

/**
 * Saves a session's finished rounds (plans, messages, code and results) as
 * `raw_exp_<session id>.yaml` in the experience folder, the `/save` of the console. An
 * experience store summarises it into lessons the next time it loads. Saving again replaces
 * the file (and so refreshes the lessons). Throws TaskWeaverError `experience_nothing_to_save`
 * when no round has finished.
 */
export async function saveExperience(rounds: readonly Round[], options: SaveExperienceOptions): Promise<SavedExperience> {
  assertSafeId(options.sessionId);
  const finished = rounds.filter((round) => round.state === "finished");
  if (finished.length === 0) {
    throw new TaskWeaverError("experience_nothing_to_save", "There is no finished round in this session to save as experience yet.");
  }
  const conversation: Conversation = { id: options.sessionId, rounds: finished, enabled: true };
  await mkdir(options.experienceDir, { recursive: true });
  const path = join(options.experienceDir, rawExperienceFileName(options.sessionId));
  // Written beside and renamed, so a store loading at the same time never reads half a file.
  const partial = `${path}.${process.pid}.partial`;
  await writeFile(partial, stringify(conversation, { lineWidth: 0 }), "utf8");
  await rename(partial, path);
  return { path, roundCount: finished.length };
}
