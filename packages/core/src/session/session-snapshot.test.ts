import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTaskWeaver } from "../app.js";
import type { CodeExecutor, KernelSnapshot, SnapshotRestoreResult } from "../executor/contract.js";
import { createFakeExecutor } from "../testing/fake-executor.js";
import { answers, createScriptedModel } from "../testing/scripted-model.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const snapshot: KernelSnapshot = {
  payload: new TextEncoder().encode("kernel state"),
  serializer: "dill",
  saved: [{ name: "df", type: "DataFrame" }],
  modules: [{ name: "pd", module: "pandas" }],
  lost: [{ name: "gen", reason: "cannot be pickled (generator)" }],
};

/** Fake executors that save `snapshot` and record what they were asked to restore. */
function snapshotExecutors() {
  const restored: string[] = [];
  const executors: CodeExecutor[] = [];
  const create = () => {
    const executor: CodeExecutor = Object.assign(
      createFakeExecutor(() => ({ output: "ok" })),
      {
        saveSnapshot: async () => snapshot,
        restoreSnapshot: async (payload: Uint8Array): Promise<SnapshotRestoreResult> => {
          restored.push(new TextDecoder().decode(payload));
          return { restored: snapshot.saved, modules: snapshot.modules, lost: snapshot.lost };
        },
      },
    );
    executors.push(executor);
    return executor;
  };
  return { create, restored, executors };
}

async function setup(config: Record<string, unknown> = {}) {
  const directory = mkdtempSync(join(tmpdir(), "tw-session-snapshot-"));
  directories.push(directory);
  writeFileSync(join(directory, "taskweaver_config.json"), JSON.stringify(config));
  const model = createScriptedModel([
    answers.planner({ send_to: "User", message: "One." }),
    answers.planner({ send_to: "User", message: "Two." }),
  ]);
  const fakes = snapshotExecutors();
  const app = await createTaskWeaver({
    appDir: directory,
    languageModel: model,
    executorFactory: fakes.create,
    env: {},
  });
  const session = await app.createSession({ sessionId: "s1", warmUp: false });
  const path = join(directory, "workspace", "sessions", "s1", "kernel-snapshot.bin");
  return { app, model, session, fakes, path };
}

describe("Session snapshots", () => {
  it("saves on stopKernel, restores into the next kernel once, and tells the model with the next message", async () => {
    const { model, session, fakes, path } = await setup();
    await session.sendMessage("first");
    await session.executor();
    await session.stopKernel({ saveSnapshot: true });
    expect(session.lastSnapshotSave).toMatchObject({
      saved: true,
      values: snapshot.saved,
      lost: snapshot.lost,
    });
    expect(readFileSync(path).toString("latin1")).toContain("kernel state");

    await session.sendMessage("second");
    expect(fakes.restored).toEqual(["kernel state"]);
    expect(existsSync(path)).toBe(false);
    const prompt = JSON.stringify(model.requests.at(-1));
    expect(prompt).toContain("variables restored: df; modules imported again: pandas as pd.");
    expect(prompt).toContain("Not restored, recreate before use: gen (cannot be pickled (generator))");
  });

  it("reports a damaged file in the note, keeps it aside as .corrupt, and never hands it to the kernel", async () => {
    const { model, session, fakes, path } = await setup();
    writeFileSync(path, "TASKWEAVER-KERNEL-SNAPSHOT 1\n{broken\n");
    const round = await session.sendMessage("first");
    expect(round.state).toBe("finished");
    expect(fakes.restored).toEqual([]);
    expect(existsSync(`${path}.corrupt`)).toBe(true);
    expect(JSON.stringify(model.requests.at(-1))).toContain("could not be restored: the header is damaged");
    expect(session.lastSnapshotRestore?.error).toBe("the header is damaged");
  });

  it("drops the snapshot unrestored when opened with restoreSnapshot: false, and refuses to save during a round", async () => {
    const { app, session, fakes, path } = await setup();
    await session.executor();
    expect((await session.saveSnapshot()).saved).toBe(true);
    await session.stop();
    const again = await app.createSession({ sessionId: "s1", restoreSnapshot: false, warmUp: false });
    await again.executor();
    expect(fakes.restored).toEqual([]);
    expect(existsSync(path)).toBe(false);

    const running = again.sendMessage("first");
    await expect(again.saveSnapshot()).rejects.toMatchObject({ code: "round_in_progress" });
    await running;
  });

  it("is off with execution_service.snapshot_max_bytes 0: nothing saved on stop, and saveSnapshot says why", async () => {
    const { session, path } = await setup({ "execution_service.snapshot_max_bytes": 0 });
    await session.executor();
    await expect(session.saveSnapshot()).rejects.toMatchObject({ code: "snapshot_unavailable" });
    await session.stopKernel({ saveSnapshot: true });
    expect(existsSync(path)).toBe(false);
    expect(session.lastSnapshotSave).toBeUndefined();
  });
});
