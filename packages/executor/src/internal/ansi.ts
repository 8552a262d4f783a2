// CSI sequences (colours, cursor moves) and OSC sequences (titles, hyperlinks).
const ANSI_PATTERN = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]/g;

/** Removes terminal escape sequences, e.g. from IPython tracebacks. */
export function stripAnsi(text: string): string {
  return text.includes("\u001b") ? text.replace(ANSI_PATTERN, "") : text;
}
