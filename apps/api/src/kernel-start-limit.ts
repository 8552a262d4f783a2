import type { CodeExecutor, ExecutorFactory } from "@taskweaver/core";

/** Options of `limitConcurrentKernelStarts`. */
export interface KernelStartLimitOptions {
  /**
   * Asked when a start begins: true when this kernel will start in milliseconds (forked from a
   * running template, taken from a warm pool), so it takes no slot. @default never
   */
  startsQuickly?: () => boolean;
}

/**
 * Wraps an executor factory so that at most `limit` kernels are starting at any moment.
 * Spawning a kernel is CPU-heavy (Python imports); fifty sessions created at once on a small
 * machine would otherwise all miss the kernel's start timeout together. Starts the runtime says
 * are quick are not counted: queueing them behind each other only adds latency. Everything but
 * `start` passes straight through.
 */
export function limitConcurrentKernelStarts(
  factory: ExecutorFactory & { dispose?: () => Promise<void> },
  limit: number,
  limitOptions: KernelStartLimitOptions = {},
): ExecutorFactory & { dispose?: () => Promise<void> } {
  let starting = 0;
  const waiting: (() => void)[] = [];
  const acquire = async () => {
    if (starting >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    starting += 1;
  };
  const release = () => {
    starting -= 1;
    waiting.shift()?.();
  };

  const limited: ExecutorFactory = async (request) => {
    const executor = await factory(request);
    let started = false;
    const start: CodeExecutor["start"] = async (options) => {
      // start() is idempotent; once a kernel runs, later calls need no slot.
      if (started || limitOptions.startsQuickly?.()) return executor.start(options);
      await acquire();
      try {
        await executor.start(options);
        started = true;
      } finally {
        release();
      }
    };
    return new Proxy(executor, {
      get(target, property) {
        if (property === "start") return start;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  };
  // The runtime's app-wide resources (warm pool, fork template) are still stopped with the app.
  const { dispose } = factory;
  return dispose ? Object.assign(limited, { dispose: () => dispose.call(factory) }) : limited;
}
