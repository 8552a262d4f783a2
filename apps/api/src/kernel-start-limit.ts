import type { CodeExecutor, ExecutorFactory } from "@taskweaver/core";

/**
 * Wraps an executor factory so that at most `limit` kernels are starting at any moment.
 * Starting a kernel is CPU-heavy (Python imports); fifty sessions created at once on a small
 * machine would otherwise all miss the kernel's start timeout together. Everything but
 * `start` passes straight through.
 */
export function limitConcurrentKernelStarts(factory: ExecutorFactory, limit: number): ExecutorFactory {
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

  return async (request) => {
    const executor = await factory(request);
    let started = false;
    const start: CodeExecutor["start"] = async (options) => {
      // start() is idempotent; once a kernel runs, later calls need no slot.
      if (started) return executor.start(options);
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
}
