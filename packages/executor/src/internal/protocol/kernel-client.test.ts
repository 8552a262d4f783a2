import { KernelDiedError, TaskWeaverError } from "@taskweaver/core";
import { describe, expect, test } from "vitest";
import { createKernelClient } from "./kernel-client.js";
import type { JupyterMessage, KernelChannel, RequestChannel } from "./messages.js";
import type { KernelTransport, TransportReceiver } from "./transport.js";

/** An in-memory transport: records what the client sends and lets the test answer. */
function createFakeTransport() {
  const sent: { channel: RequestChannel; message: JupyterMessage }[] = [];
  let receiver: TransportReceiver | undefined;
  const transport: KernelTransport & { closed: boolean } = {
    closed: false,
    send: (channel, message) => sent.push({ channel, message }),
    setReceiver: (next) => (receiver = next),
    close() {
      this.closed = true;
    },
  };
  const reply = (
    channel: KernelChannel,
    parent: JupyterMessage,
    msgType: string,
    content: Record<string, unknown>,
  ) =>
    receiver!.onMessage(channel, {
      header: {
        msg_id: `r${Math.random()}`,
        msg_type: msgType,
        session: "k",
        username: "k",
        date: "",
        version: "5.3",
      },
      parent_header: parent.header,
      metadata: {},
      content,
    });
  return { transport, sent, reply, receiver: () => receiver! };
}

describe("kernel client", () => {
  test("sends execute_request with silent false and store_history true on shell", () => {
    const fake = createFakeTransport();
    const client = createKernelClient(fake.transport, { session: "s1" });
    const handle = client.execute("1+1", { metadata: { taskweaver_execution_id: "e1" } });
    handle.done.catch(() => undefined);
    expect(fake.sent).toHaveLength(1);
    const { channel, message } = fake.sent[0]!;
    expect(channel).toBe("shell");
    expect(message.header).toMatchObject({
      msg_type: "execute_request",
      session: "s1",
      version: "5.3",
      msg_id: handle.msgId,
    });
    expect(message.content).toMatchObject({
      code: "1+1",
      silent: false,
      store_history: true,
      allow_stdin: false,
    });
    expect(message.metadata).toEqual({ taskweaver_execution_id: "e1" });
  });

  test("resolves an execution only after both the reply and iopub idle, delivering its output in between", async () => {
    const fake = createFakeTransport();
    const client = createKernelClient(fake.transport);
    const outputs: string[] = [];
    const handle = client.execute("print(1)", { onOutput: (output) => outputs.push(output.type) });
    let settled = false;
    void handle.done.then(() => (settled = true));
    const request = fake.sent[0]!.message;
    fake.reply("iopub", request, "status", { execution_state: "busy" });
    fake.reply("iopub", request, "stream", { name: "stdout", text: "1\n" });
    fake.reply("shell", request, "execute_reply", { status: "ok", execution_count: 1 });
    await Promise.resolve();
    expect(settled).toBe(false);
    fake.reply("iopub", request, "execute_result", { data: { "text/plain": "1" }, metadata: {} });
    fake.reply("iopub", request, "status", { execution_state: "idle" });
    const reply = await handle.done;
    expect(reply.content.status).toBe("ok");
    expect(outputs).toEqual(["stream", "execute_result"]);
  });

  test("ignores messages answering other clients' requests", async () => {
    const fake = createFakeTransport();
    const client = createKernelClient(fake.transport);
    const handle = client.request("shell", "kernel_info_request", {});
    const stranger = {
      ...fake.sent[0]!.message,
      header: { ...fake.sent[0]!.message.header, msg_id: "other" },
    };
    fake.reply("shell", stranger, "kernel_info_reply", {});
    fake.reply("shell", fake.sent[0]!.message, "kernel_info_reply", { protocol_version: "5.3" });
    expect((await handle.done).content).toEqual({ protocol_version: "5.3" });
  });

  test("sends interrupt_request and shutdown_request on control", async () => {
    const fake = createFakeTransport();
    const client = createKernelClient(fake.transport);
    const interrupted = client.interrupt();
    const shutdown = client.shutdown({ restart: false });
    expect(
      fake.sent.map(({ channel, message }) => [channel, message.header.msg_type, message.content]),
    ).toEqual([
      ["control", "interrupt_request", {}],
      ["control", "shutdown_request", { restart: false }],
    ]);
    fake.reply("control", fake.sent[0]!.message, "interrupt_reply", { status: "ok" });
    fake.reply("control", fake.sent[1]!.message, "shutdown_reply", { status: "ok", restart: false });
    await Promise.all([interrupted, shutdown]);
  });

  test("fails pending and later requests once failed, and when the transport closes", async () => {
    const fake = createFakeTransport();
    const client = createKernelClient(fake.transport);
    const pending = client.execute("x").done;
    client.fail(new KernelDiedError("gone"));
    await expect(pending).rejects.toThrow("gone");
    await expect(client.execute("y").done).rejects.toBeInstanceOf(KernelDiedError);

    const other = createFakeTransport();
    const second = createKernelClient(other.transport);
    const waiting = second.kernelInfo();
    other.receiver().onClose?.("socket closed");
    const error = await waiting.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(TaskWeaverError.isInstance(error) && error.code).toBe("kernel_died");
  });

  test("waitForReady asks again until iopub proves to deliver", async () => {
    const fake = createFakeTransport();
    const client = createKernelClient(fake.transport);
    const ready = client.waitForReady({ timeoutMs: 5_000 });
    // First request: shell answers, but its iopub status is lost (late subscription).
    fake.reply("shell", fake.sent[0]!.message, "kernel_info_reply", {
      protocol_version: "5.3",
      language_info: { name: "python" },
    });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(fake.sent.length).toBeGreaterThanOrEqual(2);
    const retry = fake.sent.at(-1)!.message;
    fake.reply("shell", retry, "kernel_info_reply", {
      protocol_version: "5.3",
      language_info: { name: "python" },
    });
    fake.reply("iopub", retry, "status", { execution_state: "idle" });
    expect((await ready).language_info.name).toBe("python");
  });

  test("waitForReady gives up after its timeout", async () => {
    const fake = createFakeTransport();
    const client = createKernelClient(fake.transport);
    await expect(client.waitForReady({ timeoutMs: 50 })).rejects.toThrow(/did not answer/);
  });

  test("answers an input_request of an execution on stdin, as a reply to that request, keeping allow_stdin off", async () => {
    const fake = createFakeTransport();
    const client = createKernelClient(fake.transport);
    const prompts: string[] = [];
    const handle = client.execute("ask()", {
      onInputRequest: async (request) => {
        prompts.push(request.prompt);
        return `answer to ${request.prompt}`;
      },
    });
    handle.done.catch(() => undefined);
    const request = fake.sent[0]!.message;
    expect(request.content).toMatchObject({ allow_stdin: false });
    fake.reply("stdin", request, "input_request", { prompt: "question", password: false });
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(prompts).toEqual(["question"]);
    const answer = fake.sent[1]!;
    expect(answer.channel).toBe("stdin");
    expect(answer.message.header.msg_type).toBe("input_reply");
    expect(answer.message.content).toEqual({ value: "answer to question" });
    expect(answer.message.parent_header.msg_type).toBe("input_request");
  });

  test("answers an input_request with an empty value when the execution has no handler or it fails", async () => {
    const fake = createFakeTransport();
    const client = createKernelClient(fake.transport);
    const plain = client.execute("input()");
    plain.done.catch(() => undefined);
    const failing = client.execute("ask()", { onInputRequest: () => Promise.reject(new Error("no")) });
    failing.done.catch(() => undefined);
    fake.reply("stdin", fake.sent[0]!.message, "input_request", { prompt: "", password: false });
    fake.reply("stdin", fake.sent[1]!.message, "input_request", { prompt: "x", password: false });
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(fake.sent.slice(2).map((sent) => [sent.channel, sent.message.content])).toEqual([
      ["stdin", { value: "" }],
      ["stdin", { value: "" }],
    ]);
  });
});
