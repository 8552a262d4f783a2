import type { ExecutorInfo, ExecutorMemory } from "@taskweaver/core";

const mebibytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/**
 * The `/info` lines of the session's running kernel: how it was started and, where the runtime
 * measures it, its memory. PSS comes first: for kernels forked from a template it is what each
 * one really costs (RSS counts the pages they share in full, in every kernel).
 */
export function describeKernelForInfo(kernel: (ExecutorInfo & { memory?: ExecutorMemory }) | undefined): string[] {
  if (!kernel) return ["Kernel:   not started yet (it starts with the first code to run)"];
  const { details } = kernel;
  const parts = [kernel.kind];
  if (details.pid) parts.push(`pid ${details.pid}`);
  if (details.start === "fork") parts.push("forked from the template");
  if (details.sandbox) parts.push(`sandbox ${details.sandbox}`);
  if (details.containerId) parts.push(`container ${details.containerId.slice(0, 12)}`);
  if (details.kernelId) parts.push(`kernel ${details.kernelId}`);
  const lines = [`Kernel:   ${parts.join(", ")}`];
  const { memory } = kernel;
  if (memory)
    lines.push(
      `Memory:   PSS ${mebibytes(memory.pssBytes)} · USS ${mebibytes(memory.ussBytes)} · RSS ${mebibytes(memory.rssBytes)}`,
    );
  return lines;
}
