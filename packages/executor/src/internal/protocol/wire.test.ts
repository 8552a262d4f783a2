import { createHmac } from "node:crypto";
import { describe, expect, test } from "vitest";
import type { JupyterMessage } from "./messages.js";
import { createMessageSigner, decodeMessage, DELIMITER, encodeMessage, WireFormatError } from "./wire.js";

const message: JupyterMessage = {
  header: {
    msg_id: "abc_1",
    msg_type: "execute_request",
    session: "abc",
    username: "taskweaver",
    date: "2026-11-25T10:00:00.000Z",
    version: "5.3",
  },
  parent_header: {},
  metadata: { taskweaver_execution_id: "exec-1" },
  content: { code: "1+1", silent: false },
};

const toBuffers = (frames: (string | Uint8Array)[]) => frames.map((frame) => Buffer.from(frame));

describe("message signing", () => {
  test("signs the four JSON parts with HMAC-SHA256 of the connection key, in hex", () => {
    const frames = encodeMessage(message, createMessageSigner("secret"));
    expect(frames[0]).toBe(DELIMITER);
    const expected = createHmac("sha256", "secret")
      .update(String(frames[2]))
      .update(String(frames[3]))
      .update(String(frames[4]))
      .update(String(frames[5]))
      .digest("hex");
    expect(frames[1]).toBe(expected);
    expect(JSON.parse(String(frames[5]))).toEqual(message.content);
  });

  test("leaves the signature empty when the key is empty (Jupyter's unsigned mode)", () => {
    expect(encodeMessage(message, createMessageSigner(""))[1]).toBe("");
  });

  test("decodes what it encodes, after routing identities", () => {
    const signer = createMessageSigner("secret");
    const decoded = decodeMessage(
      [Buffer.from("identity"), ...toBuffers(encodeMessage(message, signer))],
      signer,
    );
    expect(decoded).toEqual(message);
  });

  test("rejects a message whose signature does not match", () => {
    const frames = toBuffers(encodeMessage(message, createMessageSigner("secret")));
    expect(() => decodeMessage(frames, createMessageSigner("other key"))).toThrow(WireFormatError);
    const tampered = [...frames];
    tampered[5] = Buffer.from(JSON.stringify({ code: "import os; os.system('rm -rf /')" }));
    expect(() => decodeMessage(tampered, createMessageSigner("secret"))).toThrow(/signature/);
  });

  test("rejects frames without a delimiter or with missing parts", () => {
    const signer = createMessageSigner("secret");
    expect(() => decodeMessage([Buffer.from("no delimiter")], signer)).toThrow(/Malformed/);
    expect(() => decodeMessage(toBuffers(encodeMessage(message, signer)).slice(0, 4), signer)).toThrow(
      /Malformed/,
    );
  });

  test("rejects signed parts that are not JSON or lack a header", () => {
    const signer = createMessageSigner("secret");
    const parts = ["not json", "{}", "{}", "{}"];
    expect(() => decodeMessage(toBuffers([DELIMITER, signer.sign(parts), ...parts]), signer)).toThrow(/JSON/);
    const noHeader = ["{}", "{}", "{}", "{}"];
    expect(() => decodeMessage(toBuffers([DELIMITER, signer.sign(noHeader), ...noHeader]), signer)).toThrow(
      /envelope/,
    );
  });

  test("keeps extra frames as binary buffers", () => {
    const signer = createMessageSigner("k");
    const frames = [...toBuffers(encodeMessage(message, signer)), Buffer.from([1, 2, 3])];
    expect(decodeMessage(frames, signer).buffers).toEqual([Buffer.from([1, 2, 3])]);
  });
});
