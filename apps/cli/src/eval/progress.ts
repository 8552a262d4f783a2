/** Where the progress goes: a bar redrawn in place on a terminal, one line per event otherwise. */
export interface Progress {
  started(name: string): void;
  finished(name: string, summary: string): void;
  /** Clears the bar before other output. */
  done(): void;
}

const BAR_WIDTH = 24;

/** Progress on `output` for `total` cases. */
export function createProgress(output: { write(text: string): unknown; isTTY?: boolean }, total: number): Progress {
  let finished = 0;
  const running = new Set<string>();
  if (output.isTTY !== true) {
    return {
      started: (name) => output.write(`[${finished}/${total}] ${name}: running\n`),
      finished: (name, summary) => {
        finished += 1;
        output.write(`[${finished}/${total}] ${name}: ${summary}\n`);
      },
      done: () => undefined,
    };
  }
  const draw = (): void => {
    const filled = Math.round((finished / Math.max(1, total)) * BAR_WIDTH);
    const names = [...running].join(", ");
    const line = `[${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}] ${finished}/${total}${names ? `  ${names}` : ""}`;
    output.write(`\r\x1b[2K${line.slice(0, 120)}`);
  };
  return {
    started: (name) => {
      running.add(name);
      draw();
    },
    finished: (name, summary) => {
      running.delete(name);
      finished += 1;
      output.write(`\r\x1b[2K${name}: ${summary}\n`);
      draw();
    },
    done: () => output.write("\r\x1b[2K"),
  };
}
