import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTaskWeaver } from "../app.js";
import type { ChatContentPart } from "../llm/types.js";
import { findAttachment } from "../memory/factories.js";
import { createFakeExecutor } from "../testing/fake-executor.js";
import { answers, createScriptedModel } from "../testing/scripted-model.js";
import { createPost, createRound } from "../memory/factories.js";
import { createImageReader, findImageReferences } from "./image-reader.js";
import { PostBuilder } from "./post-builder.js";
import type { RoleContext } from "./role.js";

/** A context for calling a role directly, outside a session. */
function contextFor(message: string): RoleContext {
  const round = createRound(message);
  const incoming = createPost({ send_from: "Planner", send_to: "ImageReader", message });
  round.post_list.push(incoming);
  return {
    sessionId: "s",
    rounds: [round],
    round,
    incoming,
    startPost: () => new PostBuilder(() => {}, { sessionId: "s", roundId: round.id }, "ImageReader", (prefix) => `${prefix}-1`),
    signal: new AbortController().signal,
    roleAliases: ["Planner", "ImageReader"],
    generateId: (prefix) => `${prefix}-1`,
  };
}

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function temporaryDirectory() {
  const directory = mkdtempSync(join(tmpdir(), "tw-image-"));
  directories.push(directory);
  return directory;
}

async function setup(script: Parameters<typeof createScriptedModel>[0], roles = ["image_reader"]) {
  const directory = temporaryDirectory();
  writeFileSync(join(directory, "taskweaver_config.json"), JSON.stringify({ "session.roles": roles }));
  const model = createScriptedModel(script);
  const app = await createTaskWeaver({ appDir: directory, languageModel: model, executorFactory: () => createFakeExecutor(() => ({})), env: {} });
  const session = await app.createSession({ sessionId: "s1", warmUp: false });
  return { model, session, workingDirectory: join(directory, "workspace", "sessions", "s1", "cwd") };
}

const PNG_BYTES = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
const JPEG_BYTES = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 9, 9]);

describe("image_reader role", () => {
  it("sends the named images inline as base64 data URLs with the question, and replies with the model's answer", async () => {
    const { session, model, workingDirectory } = await setup(["A bar chart with three bars; the tallest is March."]);
    writeFileSync(join(workingDirectory, "chart.png"), PNG_BYTES);
    const elsewhere = temporaryDirectory();
    writeFileSync(join(elsewhere, "photo.jpg"), JPEG_BYTES);
    const question = `What do chart.png and ${join(elsewhere, "photo.jpg")} show?`;
    const round = await session.sendMessage(question);
    expect(round.state).toBe("finished");
    const post = round.post_list[1]!;
    expect(`${post.send_from}->${post.send_to}`).toBe("ImageReader->User");
    expect(post.message).toBe("A bar chart with three bars; the tallest is March.");
    const request = model.requests[0]!;
    expect(request.responseFormat).toBe("text");
    const user = request.messages[1]!;
    expect(user.role).toBe("user");
    const parts = user.content as ChatContentPart[];
    expect(parts[0]).toEqual({ type: "text", text: question });
    const urls = parts.flatMap((part) => (part.type === "image_url" ? [part.image_url.url] : []));
    expect(urls).toEqual([`data:image/png;base64,${PNG_BYTES.toString("base64")}`, `data:image/jpeg;base64,${JPEG_BYTES.toString("base64")}`]);
    // The post records which files were read, not their (large) data.
    expect(post.attachment_list.filter((item) => item.type === "image_url").map((item) => item.content)).toEqual([
      "chart.png",
      join(elsewhere, "photo.jpg"),
    ]);
  });

  it("reads images in subfolders of the working directory and says which files it could not find", async () => {
    const { session, model, workingDirectory } = await setup(["A red square."]);
    mkdirSync(join(workingDirectory, "out"));
    writeFileSync(join(workingDirectory, "out", "square.png"), PNG_BYTES);
    const round = await session.sendMessage('Describe "out/square.png" and missing.png.');
    const post = round.post_list[1]!;
    expect(post.message).toBe("A red square.\n\nNot read: missing.png was not found.");
    expect(findAttachment(post, "image_url")?.content).toBe("out/square.png");
    expect(JSON.stringify(model.requests[0]!.messages)).toContain("data:image/png;base64,");
  });

  it("answers without calling the model when the message names no image or none can be read", async () => {
    const { session, model } = await setup([]);
    const none = await session.sendMessage("describe the picture");
    expect(none.post_list[1]!.message).toMatch(/found no image/);
    const missing = await session.sendMessage("describe ghost.png");
    expect(missing.post_list[1]!.message).toBe("I could not read any of the images. Not read: ghost.png was not found.");
    expect(model.requests).toHaveLength(0);
  });

  it("works as a worker of the Planner, which sees its description", async () => {
    const { session, model, workingDirectory } = await setup(
      [
        answers.planner({ send_to: "ImageReader", message: "What is in plot.png?" }),
        "A line going up.",
        answers.planner({ send_to: "User", message: "The plot shows a line going up." }),
      ],
      ["planner", "image_reader"],
    );
    writeFileSync(join(workingDirectory, "plot.png"), PNG_BYTES);
    const round = await session.sendMessage("what is in plot.png?");
    expect(round.post_list.map((post) => `${post.send_from}->${post.send_to}`)).toEqual([
      "User->Planner",
      "Planner->ImageReader",
      "ImageReader->Planner",
      "Planner->User",
    ]);
    expect(model.requests[0]!.messages[0]!.content).toContain("- ImageReader: Looks at images");
  });
});

describe("createImageReader", () => {
  it("refuses images over the size limit without sending them", async () => {
    const directory = temporaryDirectory();
    writeFileSync(join(directory, "big.png"), Buffer.alloc(2048));
    writeFileSync(join(directory, "small.png"), PNG_BYTES);
    const model = createScriptedModel(["A small image."]);
    const role = createImageReader({ model, workingDirectory: () => directory, maxImageBytes: 1024 });
    const post = await role.reply(contextFor("Compare big.png and small.png"));
    expect(post.send_to).toBe("Planner");
    expect(post.message).toBe("A small image.\n\nNot read: big.png is too large (2048 bytes; the limit is 1024).");
    const urls = JSON.stringify(model.requests[0]!.messages).match(/data:image\/png;base64,[A-Za-z0-9+/=]*/g);
    expect(urls).toEqual([`data:image/png;base64,${PNG_BYTES.toString("base64")}`]);
  });

  it("reads a relative path through the kernel when the host does not have it (remote runtimes)", async () => {
    const requested: string[] = [];
    const model = createScriptedModel(["Seen."]);
    const role = createImageReader({
      model,
      workingDirectory: () => join(temporaryDirectory(), "not-here"),
      downloadFile: async (name) => {
        requested.push(name);
        if (name !== "remote/plot.png") throw new Error("file_not_found");
        return new Uint8Array(PNG_BYTES);
      },
    });
    const post = await role.reply(contextFor("What is in remote/plot.png and gone.png?"));
    expect(requested).toEqual(["remote/plot.png", "gone.png"]);
    expect(post.message).toBe("Seen.\n\nNot read: gone.png was not found.");
    expect(JSON.stringify(model.requests[0]!.messages)).toContain(`data:image/png;base64,${PNG_BYTES.toString("base64")}`);
  });
});

describe("findImageReferences", () => {
  it("finds bare, quoted, backticked and Markdown image paths and URLs, once each", () => {
    expect(
      findImageReferences(
        'Compare chart.png, "my plots/a b.JPG", `x/y.webp` and ![fig](figs/f.gif); also https://example.com/i.jpeg. Again chart.png.',
      ),
    ).toEqual(["my plots/a b.JPG", "x/y.webp", "figs/f.gif", "chart.png", "https://example.com/i.jpeg"]);
  });

  it("ignores names that only look like images", () => {
    expect(findImageReferences("open data.csv and notes.pngx, see png files")).toEqual([]);
  });
});
