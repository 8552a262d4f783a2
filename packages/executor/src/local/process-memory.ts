import { readFile } from "node:fs/promises";

/** Memory of one process, from Linux's `/proc/<pid>/smaps_rollup`, in bytes. */
export interface ProcessMemory {
  /** Resident set size: every page mapped in, shared ones counted in full. */
  rssBytes: number;
  /**
   * Proportional set size: each shared page divided by the number of processes mapping it. What
   * a process costs the machine; for forked kernels the pages of the template they still share
   * are split between them.
   */
  pssBytes: number;
  /** Unique set size (private clean + private dirty): what freeing this process gives back. */
  ussBytes: number;
}

function parseRollup(text: string): ProcessMemory {
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text);
    return match ? Number(match[1]) * 1024 : 0;
  };
  return {
    rssBytes: field("Rss"),
    pssBytes: field("Pss"),
    ussBytes: field("Private_Clean") + field("Private_Dirty"),
  };
}

/** RSS, PSS and USS of a process; undefined where `/proc/<pid>/smaps_rollup` cannot be read (not Linux, gone). */
export async function readProcessMemory(pid: number | string): Promise<ProcessMemory | undefined> {
  try {
    return parseRollup(await readFile(`/proc/${pid}/smaps_rollup`, "utf8"));
  } catch {
    return undefined;
  }
}
