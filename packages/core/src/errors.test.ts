import { describe, expect, it } from "vitest";
import {
  AbortedError,
  ConfigError,
  ExecutionTimeoutError,
  ExecutorUnavailableError,
  FileAccessError,
  KernelDiedError,
  LlmNotConfiguredError,
  LlmResponseError,
  MockAnswerMissingError,
  RoleError,
  RoundLimitExceededError,
  TaskWeaverError,
  toTaskWeaverError,
} from "./errors.js";

/** One instance of every subclass, with the class that must recognise it. */
const samples = [
  [ConfigError, new ConfigError("bad config")],
  [LlmNotConfiguredError, new LlmNotConfiguredError("no model", ["llm.model"])],
  [LlmResponseError, new LlmResponseError("bad answer", { status: 500 })],
  [MockAnswerMissingError, new MockAnswerMissingError("no recording", { cachePath: "cache.yaml", requestPreview: "hi" })],
  [RoundLimitExceededError, new RoundLimitExceededError(3)],
  [RoleError, new RoleError("planner_invalid_response", "gave up")],
  [AbortedError, new AbortedError()],
  [ExecutionTimeoutError, new ExecutionTimeoutError("too slow")],
  [KernelDiedError, new KernelDiedError("gone")],
  [ExecutorUnavailableError, new ExecutorUnavailableError("no python")],
  [FileAccessError, new FileAccessError("file_not_found", "missing")],
] as const;

describe("error markers", () => {
  it("recognises each subclass by its own isInstance only", () => {
    for (const [errorClass, error] of samples) {
      for (const [otherClass] of samples) {
        expect(otherClass.isInstance(error), `${otherClass.name}.isInstance(${error.name})`).toBe(otherClass === errorClass);
      }
    }
    expect(KernelDiedError.isInstance(new ConfigError("x"))).toBe(false);
  });

  it("recognises every subclass, and a plain TaskWeaverError, with TaskWeaverError.isInstance", () => {
    for (const [, error] of samples) expect(TaskWeaverError.isInstance(error), error.name).toBe(true);
    expect(TaskWeaverError.isInstance(new TaskWeaverError("internal_error", "x"))).toBe(true);
    expect(ConfigError.isInstance(new TaskWeaverError("config_invalid", "same code, not a ConfigError"))).toBe(false);
  });

  it("rejects plain errors and other values", () => {
    for (const value of [new Error("x"), { code: "aborted", message: "x" }, "aborted", null, undefined, 42]) {
      expect(TaskWeaverError.isInstance(value)).toBe(false);
      expect(AbortedError.isInstance(value)).toBe(false);
    }
  });

  it("recognises an error from another copy of the module, which instanceof does not", () => {
    // What a second copy of this file would build: the same Symbol.for keys on another class.
    const foreign = Object.assign(new Error("from another copy"), {
      code: "kernel_died",
      [Symbol.for("taskweaver.error")]: true,
      [Symbol.for("taskweaver.error.KernelDiedError")]: true,
    });
    expect(foreign instanceof KernelDiedError).toBe(false);
    expect(KernelDiedError.isInstance(foreign)).toBe(true);
    expect(TaskWeaverError.isInstance(foreign)).toBe(true);
    expect(AbortedError.isInstance(foreign)).toBe(false);
  });

  it("recognises a subclass of a subclass as its parent", () => {
    class PoolKernelDiedError extends KernelDiedError {}
    const error = new PoolKernelDiedError("pooled kernel gone");
    expect(KernelDiedError.isInstance(error)).toBe(true);
    expect(error.name).toBe("PoolKernelDiedError");
    expect(error.code).toBe("kernel_died");
  });
});

describe("toTaskWeaverError", () => {
  it("keeps a TaskWeaverError, maps an AbortError to AbortedError and wraps anything else", () => {
    const config = new ConfigError("x");
    expect(toTaskWeaverError(config)).toBe(config);
    expect(AbortedError.isInstance(toTaskWeaverError(Object.assign(new Error("stop"), { name: "AbortError" })))).toBe(true);
    const plain = new Error("boom");
    const wrapped = toTaskWeaverError(plain);
    expect(wrapped).toMatchObject({ code: "internal_error", message: "boom", cause: plain });
    expect(toTaskWeaverError("text").message).toBe("text");
  });
});
