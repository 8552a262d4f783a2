import type { CodeExecutor } from "@taskweaver/core";
import { describe, expect, it } from "vitest";
import { limitConcurrentKernelStarts } from "./kernel-start-limit.js";

function fakeExecutor(log: string[], name: string, startMs: number): CodeExecutor {
  return {
    info: { kind: "fake", details: { name } },
    workingDirectory: `/tmp/${name}`,
    async start() {
      log.push(`start ${name}`);
      await new Promise((resolve) => setTimeout(resolve, startMs));
      log.push(`ready ${name}`);
    },
    async stop() {
      log.push(`stop ${name}`);
    },
  } as unknown as CodeExecutor;
}

/** Executors whose starts take `startMs`, counting how many run at once. */
function countingStarts(log: string[], startMs: number) {
  const counter = { active: 0, peak: 0 };
  const create = (request: { sessionId: string }) => {
    const executor = fakeExecutor(log, request.sessionId, startMs);
    const start = executor.start.bind(executor);
    executor.start = async () => {
      counter.active += 1;
      counter.peak = Math.max(counter.peak, counter.active);
      await start();
      counter.active -= 1;
    };
    return executor;
  };
  return { create, counter };
}

describe("limitConcurrentKernelStarts", () => {
  it("starts at most the limit of kernels at once and passes everything else through", async () => {
    const log: string[] = [];
    const { create, counter } = countingStarts(log, 30);
    const factory = limitConcurrentKernelStarts(create, 2);
    const executors = await Promise.all(
      ["a", "b", "c", "d", "e"].map((sessionId) =>
        factory({ sessionId, workingDirectory: `/tmp/${sessionId}` }),
      ),
    );
    await Promise.all(executors.map((executor) => executor.start()));
    expect(counter.peak).toBe(2);
    expect(log.filter((line) => line.startsWith("ready"))).toHaveLength(5);
    expect(executors[0]!.info.details.name).toBe("a");
    expect(executors[2]!.workingDirectory).toBe("/tmp/c");
    await executors[1]!.stop();
    expect(log.at(-1)).toBe("stop b");
  });

  it("frees the slot when a start fails", async () => {
    const factory = limitConcurrentKernelStarts(
      () =>
        ({
          start: () => Promise.reject(new Error("no python")),
        }) as unknown as CodeExecutor,
      1,
    );
    const first = await factory({ sessionId: "a", workingDirectory: "/tmp/a" });
    const second = await factory({ sessionId: "b", workingDirectory: "/tmp/b" });
    await expect(first.start()).rejects.toThrow("no python");
    await expect(second.start()).rejects.toThrow("no python");
  });

  it("takes no slot for a start the runtime says is quick, and limits the others", async () => {
    let quick = true;
    const { create, counter } = countingStarts([], 20);
    const factory = limitConcurrentKernelStarts(create, 1, { startsQuickly: () => quick });
    const names = ["a", "b", "c", "d"];
    const quickOnes = await Promise.all(names.map((sessionId) => factory({ sessionId, workingDirectory: `/tmp/${sessionId}` })));
    await Promise.all(quickOnes.map((executor) => executor.start()));
    expect(counter.peak).toBe(4);
    quick = false;
    counter.peak = 0;
    const slowOnes = await Promise.all(names.map((sessionId) => factory({ sessionId: `${sessionId}2`, workingDirectory: `/tmp/${sessionId}2` })));
    await Promise.all(slowOnes.map((executor) => executor.start()));
    expect(counter.peak).toBe(1);
  });

  it("keeps the runtime's dispose, so its warm pool and fork template stop with the app", async () => {
    let disposed = 0;
    const runtime = Object.assign(() => ({}) as unknown as CodeExecutor, {
      dispose: async () => {
        disposed += 1;
      },
    });
    const factory = limitConcurrentKernelStarts(runtime, 2);
    await factory.dispose?.();
    expect(disposed).toBe(1);
  });
});
