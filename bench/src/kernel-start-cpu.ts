// CPU time of processes, for benchmarks on a machine shared with other work: unlike wall-clock
// figures, what a process used does not grow with other users' load.
import { readFileSync } from "node:fs";

/** `getconf CLK_TCK`: the unit of utime and stime, 100 on Linux. */
const CLOCK_TICKS = 100;

/** CPU time (user + system, all threads) a process has used so far, in seconds; 0 once it is gone. */
export function cpuSeconds(pid: number | string): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may hold spaces; utime and stime are fields 14 and
    // 15 of stat, 11 and 12 after the name.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}
