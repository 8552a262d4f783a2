import { randomBytes } from "node:crypto";
import type { Post, Round, TaskWeaverEvent } from "@taskweaver/core";
import { afterAll, describe, expect, test } from "vitest";
import type { SessionCommand, SessionRecord, SessionStore } from "../session-store.js";

/** What the suite hands the implementation when it needs a store. */
export interface SessionStoreConformanceContext {
  /**
   * Names the data: stores opened with the same name share it (a file, a schema), as two
   * instances or a restarted process would. Each test uses fresh names, valid as a file name
   * and as a PostgreSQL identifier.
   */
  database: string;
  /** The clock the store must use for timestamps and leases (tests move it forward). */
  now: () => Date;
}

/** Options of {@link describeSessionStoreConformance}. */
export interface SessionStoreConformanceOptions {
  /**
   * Why the store cannot run here (no database server). The suite is skipped then, except under
   * `CI=true`, where it fails with this reason.
   */
  unavailableReason?: string;
  /** Removes what a test's `database` left behind, after the suite. */
  removeDatabase?: (database: string) => Promise<void>;
  /** Per-test timeout. @default 30000 */
  testTimeoutMs?: number;
}

const runId = randomBytes(3).toString("hex");

function post(id: string, message: string): Post {
  return { id, send_from: "User", send_to: "Planner", message, attachment_list: [] };
}

function delta(sessionId: string, roundId: string, text: string): TaskWeaverEvent {
  return { type: "post-delta", sessionId, roundId, postId: "p1", delta: text };
}

function record(id: string, owner: string | null = null, createdAt = "2025-01-01T00:00:00.000Z"): SessionRecord {
  return { id, ownerKeyHash: owner, createdAt, roles: ["planner", "code_interpreter"], workingDirectory: `/work/${id}` };
}

const failure = { code: "server_restarted", message: "The server restarted during this round." };

/**
 * The behaviour every `SessionStore` must show, as a vitest suite. Each implementation (SQLite,
 * PostgreSQL) calls it with a function opening a store on the named data; the databases are
 * real.
 */
export function describeSessionStoreConformance(
  name: string,
  createStore: (context: SessionStoreConformanceContext) => SessionStore | Promise<SessionStore>,
  options: SessionStoreConformanceOptions = {},
): void {
  const timeout = options.testTimeoutMs ?? 30_000;
  if (options.unavailableReason !== undefined) {
    if (process.env.CI === "true") {
      describe(`${name} session store conformance`, () => {
        test("the store is available (required under CI=true)", () => {
          throw new Error(`The ${name} session store cannot run here: ${options.unavailableReason}`);
        });
      });
    } else {
      describe.skip(`${name} session store conformance (unavailable: ${options.unavailableReason})`, () => {
        test("skipped", () => undefined);
      });
    }
    return;
  }

  const databases: string[] = [];
  const opened: SessionStore[] = [];
  let counter = 0;
  /** A fresh data set with a clock starting now; `open()` opens one more store object on it. */
  const fresh = () => {
    counter += 1;
    const database = `tw_store_${runId}_${counter}`;
    databases.push(database);
    let time = Date.now();
    const clock = {
      now: () => new Date(time),
      advance: (ms: number) => {
        time += ms;
      },
    };
    const open = async () => {
      const store = await createStore({ database, now: clock.now });
      opened.push(store);
      return store;
    };
    return { database, clock, open };
  };
  afterAll(async () => {
    await Promise.all(opened.map((store) => store.close().catch(() => undefined)));
    if (options.removeDatabase) for (const database of databases) await options.removeDatabase(database);
  }, 60_000);

  describe(`${name} session store conformance`, () => {
    test("creates, reads and lists sessions per owner, oldest first", { timeout }, async () => {
      const store = await fresh().open();
      await store.createSession(record("s2", "owner-a", "2025-01-02T00:00:00.000Z"));
      await store.createSession(record("s1", "owner-a", "2025-01-01T00:00:00.000Z"));
      await store.createSession(record("s3", null, "2025-01-03T00:00:00.000Z"));
      await store.createSession(record("s4", "owner-b", "2025-01-03T00:00:00.000Z"));
      expect(await store.getSession("s1")).toEqual(record("s1", "owner-a", "2025-01-01T00:00:00.000Z"));
      expect(await store.getSession("missing")).toBeUndefined();
      expect((await store.listSessions()).map((item) => item.id)).toEqual(["s1", "s2", "s3", "s4"]);
      expect((await store.listSessions("owner-a")).map((item) => item.id)).toEqual(["s1", "s2"]);
      expect((await store.listSessions(null)).map((item) => item.id)).toEqual(["s3"]);
      expect(await store.listSessions("nobody")).toEqual([]);
      await expect(store.createSession(record("s1"))).rejects.toThrow();
    });

    test("stores, replaces and clears the session's remote kernel", { timeout }, async () => {
      const store = await fresh().open();
      const kernel = { serverUrl: "http://127.0.0.1:8888", kernelId: "k-1" };
      await store.createSession({ ...record("with-kernel"), kernel });
      await store.createSession(record("without"));
      expect((await store.getSession("with-kernel"))?.kernel).toEqual(kernel);
      expect(await store.getSession("without")).not.toHaveProperty("kernel");
      await store.setSessionKernel("without", { serverUrl: "http://127.0.0.1:9999", kernelId: "k-2" });
      expect((await store.getSession("without"))?.kernel).toEqual({ serverUrl: "http://127.0.0.1:9999", kernelId: "k-2" });
      await store.setSessionKernel("with-kernel", null);
      expect(await store.getSession("with-kernel")).not.toHaveProperty("kernel");
      expect((await store.listSessions()).find((item) => item.id === "without")?.kernel?.kernelId).toBe("k-2");
    });

    test("keeps rounds in start order with their posts, replaced in place and then by the final round", { timeout }, async () => {
      const store = await fresh().open();
      await store.createSession(record("s"));
      await store.startRound("s", { id: "r1", userQuery: "first" });
      await store.startRound("s", { id: "r1", userQuery: "ignored" });
      await store.savePost("s", "r1", post("p1", "draft"));
      await store.savePost("s", "r1", post("p2", "second"));
      await store.savePost("s", "r1", post("p1", "final"));
      let rounds = await store.listRounds("s");
      expect(rounds).toHaveLength(1);
      expect(rounds[0]).toMatchObject({ id: "r1", user_query: "first", state: "created", error: null, finishedAt: null });
      expect(rounds[0]!.post_list.map((item) => item.message)).toEqual(["final", "second"]);
      expect(typeof rounds[0]!.createdAt).toBe("string");

      const finished: Round = { id: "r1", user_query: "first", state: "finished", post_list: [post("p3", "only")] };
      await store.finishRound("s", finished);
      await store.startRound("s", { id: "r2", userQuery: "second" });
      await store.finishRound("s", { id: "r2", user_query: "second", state: "failed", post_list: [] }, {
        code: "round_failed",
        message: "it broke",
      });
      // A round that never started is recorded by finishRound; a "created" final state counts as failed.
      await store.finishRound("s", { id: "r3", user_query: "third", state: "created", post_list: [post("p4", "x")] });
      rounds = await store.listRounds("s");
      expect(rounds.map((item) => [item.id, item.state])).toEqual([
        ["r1", "finished"],
        ["r2", "failed"],
        ["r3", "failed"],
      ]);
      expect(rounds[0]!.post_list).toEqual([post("p3", "only")]);
      expect(rounds[1]!.error).toEqual({ code: "round_failed", message: "it broke" });
      expect(rounds[0]!.finishedAt).not.toBeNull();
      expect(rounds[2]!.post_list).toEqual([post("p4", "x")]);
      expect(await store.listRounds("missing")).toEqual([]);
    });

    test("numbers events per session from 1 and lists them after a sequence number", { timeout }, async () => {
      const store = await fresh().open();
      await store.createSession(record("a"));
      await store.createSession(record("b"));
      expect(await store.lastEventSeq("a")).toBe(0);
      expect(await store.appendEvent("a", delta("a", "r", "one"))).toBe(1);
      expect(await store.appendEvent("a", delta("a", "r", "two"))).toBe(2);
      expect(await store.appendEvent("b", delta("b", "r", "uno"))).toBe(1);
      const roundStart: TaskWeaverEvent = { type: "round-start", sessionId: "a", roundId: "r", userQuery: "q" };
      expect(await store.appendEvent("a", roundStart)).toBe(3);
      expect(await store.lastEventSeq("a")).toBe(3);
      expect(await store.listEvents("a", 0)).toEqual([
        { seq: 1, event: delta("a", "r", "one") },
        { seq: 2, event: delta("a", "r", "two") },
        { seq: 3, event: roundStart },
      ]);
      expect((await store.listEvents("a", 2)).map((item) => item.seq)).toEqual([3]);
      expect(await store.listEvents("a", 3)).toEqual([]);
      expect(await store.lastEventSeq("missing")).toBe(0);
      await expect(store.appendEvent("missing", delta("missing", "r", "x"))).rejects.toThrow();
    });

    test("applies writes in call order when the caller does not wait for each", { timeout }, async () => {
      const store = await fresh().open();
      await store.createSession(record("s"));
      const pending: Promise<unknown>[] = [];
      const seqs: Promise<number>[] = [];
      pending.push(store.startRound("s", { id: "r1", userQuery: "q" }));
      for (let index = 0; index < 40; index += 1) {
        seqs.push(store.appendEvent("s", delta("s", "r1", `part ${index}`)));
        pending.push(store.savePost("s", "r1", post("p1", `version ${index}`)));
      }
      pending.push(store.finishRound("s", { id: "r1", user_query: "q", state: "finished", post_list: [post("p1", "last")] }));
      // A read called now sees every write called before it.
      const events = await store.listEvents("s", 0);
      expect(events.map((item) => (item.event as { delta: string }).delta)).toEqual(
        Array.from({ length: 40 }, (_, index) => `part ${index}`),
      );
      expect(await Promise.all(seqs)).toEqual(Array.from({ length: 40 }, (_, index) => index + 1));
      await Promise.all(pending);
      const rounds = await store.listRounds("s");
      expect(rounds[0]?.state).toBe("finished");
      expect(rounds[0]?.post_list.map((item) => item.message)).toEqual(["last"]);
    });

    test("gives concurrent appends from two store objects distinct numbers without gaps", { timeout }, async () => {
      const data = fresh();
      const first = await data.open();
      const second = await data.open();
      await first.createSession(record("shared"));
      const count = 60;
      const fromFirst = Array.from({ length: count }, (_, index) => first.appendEvent("shared", delta("shared", "r", `first ${index}`)));
      const fromSecond = Array.from({ length: count }, (_, index) => second.appendEvent("shared", delta("shared", "r", `second ${index}`)));
      const [firstSeqs, secondSeqs] = await Promise.all([Promise.all(fromFirst), Promise.all(fromSecond)]);
      const all = [...firstSeqs, ...secondSeqs].sort((left, right) => left - right);
      expect(all).toEqual(Array.from({ length: 2 * count }, (_, index) => index + 1));
      // Each caller's own events keep its call order.
      expect(firstSeqs).toEqual([...firstSeqs].sort((left, right) => left - right));
      expect(secondSeqs).toEqual([...secondSeqs].sort((left, right) => left - right));
      const stored = await second.listEvents("shared", 0);
      expect(stored.map((item) => item.seq)).toEqual(all);
      const firstTexts = stored.map((item) => (item.event as { delta: string }).delta).filter((text) => text.startsWith("first"));
      expect(firstTexts).toEqual(Array.from({ length: count }, (_, index) => `first ${index}`));
      expect(await first.lastEventSeq("shared")).toBe(2 * count);
    });

    test("deletes a session with its rounds, posts, events and lease, and nothing else", { timeout }, async () => {
      const store = await fresh().open();
      for (const id of ["gone", "kept"]) {
        await store.createSession(record(id));
        await store.startRound(id, { id: "r1", userQuery: "q" });
        await store.savePost(id, "r1", post("p1", "m"));
        await store.appendEvent(id, delta(id, "r1", "x"));
        expect(await store.acquireRoundLease(id, "instance-a", 60_000)).toBe(true);
      }
      expect(await store.deleteSession("gone")).toBe(true);
      expect(await store.deleteSession("gone")).toBe(false);
      expect(await store.getSession("gone")).toBeUndefined();
      expect(await store.listRounds("gone")).toEqual([]);
      expect(await store.listEvents("gone", 0)).toEqual([]);
      expect(await store.lastEventSeq("gone")).toBe(0);
      expect(await store.getRoundLease("gone")).toBeUndefined();
      expect(await store.renewLeases("instance-a", 60_000)).toEqual(["kept"]);
      expect((await store.listRounds("kept"))[0]?.post_list).toHaveLength(1);
      expect(await store.listEvents("kept", 0)).toHaveLength(1);
      // A re-created session starts its numbering again.
      await store.createSession(record("gone"));
      expect(await store.appendEvent("gone", delta("gone", "r", "again"))).toBe(1);
    });

    test("fails unfinished rounds of every session or of one, and counts them", { timeout }, async () => {
      const store = await fresh().open();
      for (const id of ["a", "b"]) {
        await store.createSession(record(id));
        await store.startRound(id, { id: "done", userQuery: "q" });
        await store.finishRound(id, { id: "done", user_query: "q", state: "finished", post_list: [] });
        await store.startRound(id, { id: "open", userQuery: "q" });
      }
      expect(await store.failUnfinishedRounds(failure, "a")).toBe(1);
      expect((await store.listRounds("a")).map((item) => item.state)).toEqual(["finished", "failed"]);
      expect((await store.listRounds("a"))[1]?.error).toEqual(failure);
      expect((await store.listRounds("b")).map((item) => item.state)).toEqual(["finished", "created"]);
      expect(await store.failUnfinishedRounds(failure)).toBe(1);
      expect(await store.failUnfinishedRounds(failure)).toBe(0);
      expect((await store.listRounds("b"))[1]).toMatchObject({ state: "failed", error: failure });
    });

    test("fails unfinished rounds except those of sessions with a valid lease", { timeout }, async () => {
      const data = fresh();
      const store = await data.open();
      for (const id of ["leased", "lost", "orphan"]) {
        await store.createSession(record(id));
        await store.startRound(id, { id: "r", userQuery: "q" });
      }
      await store.acquireRoundLease("leased", "alive", 60_000);
      await store.acquireRoundLease("lost", "dead", 1_000);
      data.clock.advance(5_000);
      expect(await store.failRoundsWithoutLease(failure, data.clock.now())).toBe(2);
      expect((await store.listRounds("leased"))[0]?.state).toBe("created");
      expect((await store.listRounds("lost"))[0]?.state).toBe("failed");
      expect((await store.listRounds("orphan"))[0]?.state).toBe("failed");
    });

    test("holds one round lease per session until it is released or expires", { timeout }, async () => {
      const data = fresh();
      const store = await data.open();
      await store.createSession(record("s"));
      await store.createSession(record("t"));
      expect(await store.acquireRoundLease("s", "a", 10_000)).toBe(true);
      expect(await store.acquireRoundLease("s", "b", 10_000)).toBe(false);
      expect(await store.acquireRoundLease("s", "a", 10_000)).toBe(false);
      expect(await store.acquireRoundLease("t", "a", 10_000)).toBe(true);
      const lease = await store.getRoundLease("s");
      expect(lease?.instanceId).toBe("a");
      expect(lease!.expiresAt.getTime()).toBe(data.clock.now().getTime() + 10_000);

      data.clock.advance(8_000);
      expect(await store.renewLeases("a", 10_000)).toEqual(["s", "t"]);
      expect((await store.getRoundLease("s"))!.expiresAt.getTime()).toBe(data.clock.now().getTime() + 10_000);
      expect(await store.renewLeases("b", 10_000)).toEqual([]);
      expect(await store.listExpiredLeases(data.clock.now())).toEqual([]);

      expect(await store.releaseRoundLease("t", "b")).toBe(false);
      expect(await store.releaseRoundLease("t", "a")).toBe(true);
      expect(await store.getRoundLease("t")).toBeUndefined();
      data.clock.advance(1_000);
      expect(await store.acquireRoundLease("t", "b", 10_000)).toBe(true);

      data.clock.advance(10_001);
      const expired = await store.listExpiredLeases(data.clock.now());
      expect(expired.map((item) => [item.sessionId, item.instanceId])).toEqual([
        ["s", "a"],
        ["t", "b"],
      ]);
      // An expired lease is not renewed: its holder has lost it.
      expect(await store.renewLeases("a", 10_000)).toEqual([]);
      expect(await store.acquireRoundLease("s", "c", 10_000)).toBe(true);
      expect((await store.getRoundLease("s"))?.instanceId).toBe("c");
      expect(await store.releaseRoundLease("s", "a")).toBe(false);
      await expect(store.acquireRoundLease("missing", "a", 10_000)).rejects.toThrow();
    });

    test("lets exactly one of several store objects take a free lease at once", { timeout }, async () => {
      const data = fresh();
      const stores = await Promise.all([data.open(), data.open(), data.open()]);
      await stores[0]!.createSession(record("contested"));
      for (let attempt = 0; attempt < 5; attempt += 1) {
        const results = await Promise.all(
          stores.map((store, index) => store.acquireRoundLease("contested", `instance-${index}`, 10_000)),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        const holder = (await stores[1]!.getRoundLease("contested"))!.instanceId;
        expect(holder).toBe(`instance-${results.indexOf(true)}`);
        expect(await stores[2]!.releaseRoundLease("contested", holder)).toBe(true);
      }
    });

    test("wakes a waiter when an event arrives through this or another store object", { timeout }, async () => {
      const data = fresh();
      const writer = await data.open();
      const reader = await data.open();
      await writer.createSession(record("s"));
      await writer.appendEvent("s", delta("s", "r", "first"));
      expect(await reader.waitForEvents("s", 0, { timeoutMs: 1_000 })).toBe(true);

      const local = writer.waitForEvents("s", 1, { timeoutMs: 5_000 });
      const remote = reader.waitForEvents("s", 1, { timeoutMs: 5_000 });
      const started = Date.now();
      setTimeout(() => void writer.appendEvent("s", delta("s", "r", "second")), 50);
      expect(await local).toBe(true);
      expect(await remote).toBe(true);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect((await reader.listEvents("s", 1)).map((item) => item.seq)).toEqual([2]);
    });

    test("stops waiting for events on timeout and on abort", { timeout }, async () => {
      const store = await fresh().open();
      await store.createSession(record("s"));
      const started = Date.now();
      expect(await store.waitForEvents("s", 0, { timeoutMs: 300 })).toBe(false);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      const controller = new AbortController();
      const waiting = store.waitForEvents("s", 0, { timeoutMs: 10_000, signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      expect(await waiting).toBe(false);
      expect(await store.waitForEvents("s", 0, { signal: AbortSignal.abort() })).toBe(false);
    });

    test("delivers a command once, in order, to the instance holding the lease", { timeout }, async () => {
      const data = fresh();
      const sender = await data.open();
      const runner = await data.open();
      await sender.createSession(record("s"));
      expect(await sender.sendCommand("s", "interrupt")).toBeUndefined();
      expect(await runner.acquireRoundLease("s", "runner", 60_000)).toBe(true);
      // Sent before anyone listens: still delivered.
      expect(await sender.sendCommand("s", "interrupt")).toBe("runner");

      const received: SessionCommand[] = [];
      const alsoReceived: SessionCommand[] = [];
      let arrived: () => void = () => undefined;
      const twoArrived = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      const onCommand = (list: SessionCommand[]) => (command: SessionCommand) => {
        list.push(command);
        if (received.length + alsoReceived.length === 2) arrived();
      };
      const unsubscribe = await runner.onCommand("runner", onCommand(received));
      const unsubscribeOther = await sender.onCommand("runner", onCommand(alsoReceived));
      const elsewhere: SessionCommand[] = [];
      const unsubscribeElsewhere = await sender.onCommand("someone-else", (command) => elsewhere.push(command));
      // The clock is the test's: without a tick both commands carry the same sentAt and the
      // sort below could not tell their order.
      data.clock.advance(1);
      expect(await sender.sendCommand("s", "delete")).toBe("runner");
      await twoArrived;
      await new Promise((resolve) => setTimeout(resolve, 700));
      const all = [...received, ...alsoReceived].sort((left, right) => left.sentAt.getTime() - right.sentAt.getTime());
      expect(all.map((command) => [command.sessionId, command.command, command.instanceId])).toEqual([
        ["s", "interrupt", "runner"],
        ["s", "delete", "runner"],
      ]);
      // Within one subscriber the order is the sending order.
      for (const list of [received, alsoReceived]) {
        expect(list.map((command) => command.command)).toEqual(
          ["interrupt", "delete"].filter((name) => list.some((command) => command.command === name)),
        );
      }
      expect(elsewhere).toEqual([]);
      await unsubscribe();
      await unsubscribeOther();
      await unsubscribeElsewhere();
      // After unsubscribing nothing is taken: the command waits for the next subscriber.
      expect(await sender.sendCommand("s", "interrupt")).toBe("runner");
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(received.length + alsoReceived.length).toBe(2);
      const later: SessionCommand[] = [];
      const gotLater = new Promise<void>((resolve) => {
        void runner.onCommand("runner", (command) => {
          later.push(command);
          resolve();
        });
      });
      await gotLater;
      expect(later.map((command) => command.command)).toEqual(["interrupt"]);
    });

    test("answers an approval once, whichever store object answers, and never after it was closed", { timeout }, async () => {
      const data = fresh();
      const runner = await data.open();
      const other = await data.open();
      await runner.createSession(record("s"));
      await runner.createSession(record("t"));
      expect(await other.answerApproval("s", "a1", { decision: "approve" })).toBe("unknown");
      expect(await runner.readApproval("s", "a1")).toBeUndefined();
      await runner.openApproval("s", { approvalId: "a1", roundId: "r1" });
      // Opening again changes nothing; the same id in another session is another approval.
      await runner.openApproval("s", { approvalId: "a1", roundId: "r1" });
      expect(await other.answerApproval("t", "a1", { decision: "approve" })).toBe("unknown");
      expect(await other.readApproval("s", "a1")).toEqual({ sessionId: "s", approvalId: "a1", roundId: "r1", state: "pending" });

      const answers = await Promise.all([
        other.answerApproval("s", "a1", { decision: "approve", code: "print(2)" }),
        runner.answerApproval("s", "a1", { decision: "reject", reason: "no" }),
        other.answerApproval("s", "a1", { decision: "reject" }),
      ]);
      expect(answers.filter((answer) => answer === "answered")).toHaveLength(1);
      expect(answers.filter((answer) => answer === "already_answered")).toHaveLength(2);
      const stored = await runner.readApproval("s", "a1");
      expect(stored?.state).toBe("answered");
      const winner = [
        { decision: "approve", code: "print(2)" },
        { decision: "reject", reason: "no" },
        { decision: "reject" },
      ][answers.indexOf("answered")];
      expect(stored?.answer).toEqual(winner);
      // Closing an answered approval keeps its answer.
      await runner.closeApproval("s", "a1");
      expect((await other.readApproval("s", "a1"))?.state).toBe("answered");

      await runner.openApproval("s", { approvalId: "a2", roundId: "r1" });
      await runner.closeApproval("s", "a2");
      expect(await other.answerApproval("s", "a2", { decision: "approve" })).toBe("closed");
      expect(await other.readApproval("s", "a2")).toEqual({ sessionId: "s", approvalId: "a2", roundId: "r1", state: "closed" });

      expect(await runner.deleteSession("s")).toBe(true);
      expect(await other.readApproval("s", "a1")).toBeUndefined();
    });

    test("keeps everything for a new store object on the same data (a restart)", { timeout }, async () => {
      const data = fresh();
      const before = await data.open();
      await before.createSession({ ...record("s", "owner"), kernel: { serverUrl: "http://127.0.0.1:1", kernelId: "k" } });
      await before.startRound("s", { id: "r1", userQuery: "q" });
      await before.savePost("s", "r1", post("p1", "m"));
      await before.finishRound("s", { id: "r1", user_query: "q", state: "finished", post_list: [post("p1", "m")] });
      await before.startRound("s", { id: "r2", userQuery: "unfinished" });
      for (let index = 0; index < 5; index += 1) await before.appendEvent("s", delta("s", "r1", `e${index}`));
      await before.close();

      const after = await data.open();
      expect(await after.getSession("s")).toEqual({
        ...record("s", "owner"),
        kernel: { serverUrl: "http://127.0.0.1:1", kernelId: "k" },
      });
      expect((await after.listRounds("s")).map((item) => [item.id, item.state])).toEqual([
        ["r1", "finished"],
        ["r2", "created"],
      ]);
      expect(await after.failUnfinishedRounds(failure)).toBe(1);
      expect((await after.listEvents("s", 0)).map((item) => item.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(await after.appendEvent("s", delta("s", "r3", "next"))).toBe(6);
      await after.ping();
    });
  });
}
