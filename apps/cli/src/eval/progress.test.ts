import { expect, it } from "vitest";
import { createProgress } from "./progress.js";

function stream(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, isTTY, write: (text: string) => chunks.push(text) };
}

it("prints one plain line per start and end when the output is not a terminal", () => {
  const output = stream(false);
  const progress = createProgress(output, 2);
  progress.started("a.yaml");
  progress.finished("a.yaml", "1/1 (1.00)");
  progress.done();
  expect(output.chunks.join("")).toBe("[0/2] a.yaml: running\n[1/2] a.yaml: 1/1 (1.00)\n");
});

it("redraws a bar in place on a terminal, with a line per finished case above it", () => {
  const output = stream(true);
  const progress = createProgress(output, 2);
  progress.started("a.yaml");
  progress.started("b.yaml");
  progress.finished("a.yaml", "2/2 (1.00)");
  const text = output.chunks.join("");
  expect(text).toContain(`\r\x1b[2K[${".".repeat(24)}] 0/2  a.yaml, b.yaml`);
  expect(text).toContain("\r\x1b[2Ka.yaml: 2/2 (1.00)\n");
  expect(text.endsWith(`\r\x1b[2K[${"#".repeat(12)}${".".repeat(12)}] 1/2  b.yaml`)).toBe(true);
  progress.done();
  expect(output.chunks.at(-1)).toBe("\r\x1b[2K");
});
