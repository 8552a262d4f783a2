import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ConversationSchema, type Round } from "../memory/types.js";
import { createScriptedModel } from "../testing/scripted-model.js";
import { LlmNotConfiguredError } from "../errors.js";
import { cosineSimilarity, createExperienceRetriever, createExperienceStore, formatExperience } from "./experience-store.js";
import { saveExperience } from "./save-experience.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function temporaryDirectory() {
  const directory = mkdtempSync(join(tmpdir(), "tw-experience-"));
  directories.push(directory);
  return directory;
}

const VOCABULARY = ["csv", "column", "chart", "sales", "weather", "encoding", "plot", "rows"];

/** Deterministic embeddings: counts of a few words, so similarity follows shared words. */
function fakeEmbedding(text: string): number[] {
  const words = text.toLowerCase().split(/[^a-z]+/);
  return VOCABULARY.map((word) => words.filter((candidate) => candidate === word || candidate === `${word}s`).length);
}

function createModel(script: Parameters<typeof createScriptedModel>[0]) {
  const model = createScriptedModel(script);
  const embedded: string[][] = [];
  model.embed = async (texts) => {
    embedded.push(texts);
    return texts.map(fakeEmbedding);
  };
  return Object.assign(model, { embedded });
}

function round(query: string, state: Round["state"], plan = "1. read the csv"): Round {
  return {
    id: `round-${query}`,
    user_query: query,
    state,
    post_list: [
      { id: "p1", send_from: "User", send_to: "Planner", message: query, attachment_list: [] },
      {
        id: "p2",
        send_from: "Planner",
        send_to: "CodeInterpreter",
        message: "Read sales.csv with encoding latin-1.",
        attachment_list: [{ id: "a1", type: "plan", content: plan }],
      },
    ],
  };
}

const NOW = () => new Date("2026-01-02T03:04:05.000Z");

describe("saveExperience", () => {
  it("writes the finished rounds of a session as raw_exp_<id>.yaml, in the saved-session format", async () => {
    const dir = join(temporaryDirectory(), "experience");
    const saved = await saveExperience([round("sum sales", "finished"), round("broken", "failed"), round("plot sales", "finished")], {
      experienceDir: dir,
      sessionId: "session-1",
    });
    expect(saved).toEqual({ path: join(dir, "raw_exp_session-1.yaml"), roundCount: 2 });
    const conversation = ConversationSchema.parse(parse(readFileSync(saved.path, "utf8")));
    expect(conversation.id).toBe("session-1");
    expect(conversation.rounds.map((item) => item.user_query)).toEqual(["sum sales", "plot sales"]);
    expect(conversation.rounds[0]!.post_list[1]!.attachment_list[0]).toMatchObject({ type: "plan", content: "1. read the csv" });
  });

  it("refuses a session with no finished round, and an id that is not a file name", async () => {
    const dir = temporaryDirectory();
    await expect(saveExperience([round("x", "failed")], { experienceDir: dir, sessionId: "s" })).rejects.toMatchObject({
      code: "experience_nothing_to_save",
    });
    await expect(saveExperience([round("x", "finished")], { experienceDir: dir, sessionId: "../escape" })).rejects.toMatchObject({
      code: "experience_invalid_id",
    });
  });
});

describe("createExperienceStore", () => {
  it("summarises a saved session into lessons with the model, stores them with their embedding, and does not summarise again", async () => {
    const dir = temporaryDirectory();
    await saveExperience([round("sum the sales column", "finished")], { experienceDir: dir, sessionId: "s1" });
    const model = createModel([JSON.stringify({ experience: "- sales.csv needs encoding latin-1." })]);
    const store = createExperienceStore({ dir, model, now: NOW, embeddingModelId: "fake-embedding" });
    const report = await store.load();
    expect(report.problems).toEqual([]);
    expect(report.summarised).toEqual(["s1"]);
    expect(report.experiences.map((experience) => experience.text)).toEqual(["- sales.csv needs encoding latin-1."]);
    // The model saw the session: the request, the plan, the message.
    const prompt = JSON.stringify(model.requests[0]!.messages);
    expect(prompt).toContain("sum the sales column");
    expect(prompt).toContain("[plan] 1. read the csv");
    expect(prompt).toContain("Planner -> CodeInterpreter: Read sales.csv with encoding latin-1.");
    expect(model.requests[0]!.responseFormat).toBe("json_object");
    const file = parse(readFileSync(join(dir, "exp_s1.yaml"), "utf8"));
    expect(file).toEqual({
      exp_id: "s1",
      experience_text: "- sales.csv needs encoding latin-1.",
      raw_experience_path: join(dir, "raw_exp_s1.yaml"),
      embedding_model: "fake-embedding",
      embedding: fakeEmbedding("- sales.csv needs encoding latin-1."),
      created_at: "2026-01-02T03:04:05.000Z",
    });

    // A new store on the same folder reuses the stored lessons and embedding: no model call.
    const again = createModel([]);
    const second = await createExperienceStore({ dir, model: again, embeddingModelId: "fake-embedding" }).load();
    expect(second.summarised).toEqual([]);
    expect(second.experiences).toHaveLength(1);
    expect(again.requests).toHaveLength(0);
    expect(again.embedded).toHaveLength(0);
  });

  it("summarises a session again when its raw file is newer than its lessons", async () => {
    const dir = temporaryDirectory();
    await saveExperience([round("chart the weather", "finished")], { experienceDir: dir, sessionId: "s2" });
    await createExperienceStore({ dir, model: createModel(["- old lesson about weather"]) }).load();
    const later = new Date(statSync(join(dir, "exp_s2.yaml")).mtimeMs + 60_000);
    utimesSync(join(dir, "raw_exp_s2.yaml"), later, later);
    const model = createModel([JSON.stringify({ experience: "- new lesson about the weather chart" })]);
    const report = await createExperienceStore({ dir, model }).load();
    expect(report.summarised).toEqual(["s2"]);
    expect(report.experiences.map((experience) => experience.text)).toEqual(["- new lesson about the weather chart"]);
  });

  it("accepts a plain-text summary, with a think block and a code fence around it", async () => {
    const dir = temporaryDirectory();
    await saveExperience([round("count rows", "finished")], { experienceDir: dir, sessionId: "s3" });
    const model = createModel(["<think>hmm</think>\n```\n- Count rows with len(df).\n```"]);
    const report = await createExperienceStore({ dir, model }).load();
    expect(report.experiences.map((experience) => experience.text)).toEqual(["- Count rows with len(df)."]);
  });

  it("reads sessions saved by other TaskWeaver versions, skipping attachment types it does not know, and reports files that are not sessions", async () => {
    const dir = temporaryDirectory();
    writeFileSync(
      join(dir, "raw_exp_old.yaml"),
      [
        "id: conv-old",
        "enabled: true",
        "plugins: []",
        "rounds:",
        "- id: round-1",
        "  user_query: plot the weather csv",
        "  state: finished",
        "  post_list:",
        "  - id: post-1",
        "    message: plot the weather csv",
        "    send_from: User",
        "    send_to: Planner",
        "    attachment_list: []",
        "  - id: post-2",
        "    message: null",
        "    send_from: Planner",
        "    send_to: CodeInterpreter",
        "    attachment_list:",
        "    - id: atta-1",
        "      type: board",
        "      content: internal board text",
        "      extra: null",
        "    - id: atta-2",
        "      type: init_plan",
        "      content: 1. load weather.csv",
        "      extra: null",
        "",
      ].join("\n"),
    );
    writeFileSync(join(dir, "raw_exp_junk.yaml"), "just: a mapping\n");
    const model = createModel(["- The weather csv plots well as a line chart."]);
    const report = await createExperienceStore({ dir, model }).load();
    expect(report.summarised).toEqual(["old"]);
    const prompt = JSON.stringify(model.requests[0]!.messages);
    expect(prompt).toContain("[init_plan] 1. load weather.csv");
    expect(prompt).not.toContain("internal board text");
    expect(report.problems).toEqual([{ file: join(dir, "raw_exp_junk.yaml"), message: expect.stringContaining('not a saved session: field "rounds"') }]);
  });

  it("reports a failed or empty summary, writes nothing, and tries again on the next load", async () => {
    const dir = temporaryDirectory();
    await saveExperience([round("plot", "finished")], { experienceDir: dir, sessionId: "s4" });
    const failing = createModel([() => {
      throw new Error("HTTP 500 from the model");
    }, JSON.stringify({ experience: "  " })]);
    const store = createExperienceStore({ dir, model: failing });
    const first = await store.load();
    expect(first.problems).toEqual([{ file: join(dir, "raw_exp_s4.yaml"), message: expect.stringContaining("HTTP 500 from the model") }]);
    expect(existsSync(join(dir, "exp_s4.yaml"))).toBe(false);
    const second = await store.load();
    expect(second.problems[0]!.message).toMatch(/empty or unusable/);
    const fixed = await createExperienceStore({ dir, model: createModel(["- Label the plot axes."]) }).load();
    expect(fixed.summarised).toEqual(["s4"]);
  });

  it("embeds hand-written lessons as written and leaves their files alone; re-embeds lessons from another embedding model", async () => {
    const dir = temporaryDirectory();
    const handWritten = "experience_text: Always plot sales as a bar chart.\n";
    writeFileSync(join(dir, "exp_manual.yaml"), handWritten);
    writeFileSync(
      join(dir, "exp_old.yaml"),
      "exp_id: old\nexperience_text: Check csv encoding first.\nembedding_model: another-model\nembedding: [9, 9]\n",
    );
    writeFileSync(join(dir, "exp_bad.yaml"), "embedding: [1]\n");
    const model = createModel([]);
    const report = await createExperienceStore({ dir, model, embeddingModelId: "fake-embedding" }).load();
    expect(model.embedded).toEqual([["Always plot sales as a bar chart.", "Check csv encoding first."]]);
    expect(report.experiences.map((experience) => [experience.id, experience.embedding])).toEqual([
      ["manual", fakeEmbedding("Always plot sales as a bar chart.")],
      ["old", fakeEmbedding("Check csv encoding first.")],
    ]);
    expect(report.problems).toEqual([{ file: join(dir, "exp_bad.yaml"), message: expect.stringContaining('field "experience_text"') }]);
    expect(readFileSync(join(dir, "exp_manual.yaml"), "utf8")).toBe(handWritten);
  });

  it("retrieves lessons by cosine similarity above the threshold, best first", async () => {
    const dir = temporaryDirectory();
    writeFileSync(join(dir, "exp_a.yaml"), "experience_text: Plot sales as a bar chart.\n");
    writeFileSync(join(dir, "exp_b.yaml"), "experience_text: The weather csv has a rows header.\n");
    writeFileSync(join(dir, "exp_c.yaml"), "experience_text: Sales chart colours are blue.\n");
    const model = createModel([]);
    const store = createExperienceStore({ dir, model, threshold: 0.5 });
    const matches = await store.retrieve("make a chart of the sales");
    // c shares both words with the query; a also talks of plots, so it comes second.
    expect(matches.map((match) => match.id)).toEqual(["c", "a"]);
    expect(matches[0]!.score).toBeCloseTo(1);
    expect(matches[1]!.score).toBeCloseTo(cosineSimilarity(fakeEmbedding("make a chart of the sales"), fakeEmbedding("Plot sales as a bar chart.")));
    expect(matches[1]!.score).toBeLessThan(0.9);
    expect(await store.retrieve("weather rows")).toEqual([{ id: "b", text: "The weather csv has a rows header.", score: expect.any(Number) }]);
    expect(await store.retrieve("nothing in common")).toEqual([]);
    // Lessons were embedded once, on the first retrieval; each query once.
    expect(model.embedded.map((texts) => texts.length)).toEqual([3, 1, 1, 1]);
    expect(await createExperienceStore({ dir, model, threshold: 0.5, limit: 1 }).retrieve("sales chart")).toHaveLength(1);
  });

  it("finds nothing in a folder that does not exist", async () => {
    const model = createModel([]);
    const store = createExperienceStore({ dir: join(temporaryDirectory(), "missing"), model });
    expect(await store.retrieve("anything")).toEqual([]);
    expect(model.embedded).toEqual([]);
  });

  it("loads only once when asked twice at the same time", async () => {
    const dir = temporaryDirectory();
    mkdirSync(join(dir, "sub"));
    await saveExperience([round("q", "finished")], { experienceDir: dir, sessionId: "s5" });
    const model = createModel(["- one lesson about csv"]);
    const store = createExperienceStore({ dir, model });
    const [first, second] = await Promise.all([store.load(), store.load()]);
    expect(first).toBe(second);
    expect(model.requests).toHaveLength(1);
  });
});

describe("formatExperience", () => {
  it("lists the lessons as bullet points, and gives undefined for none", () => {
    expect(formatExperience([{ text: "Use latin-1." }, { text: "- Plot bars.\n- Label axes." }, { text: " " }])).toBe(
      "- Use latin-1.\n- Plot bars.\n- Label axes.",
    );
    expect(formatExperience([])).toBeUndefined();
  });
});

describe("cosineSimilarity", () => {
  it("is 1 for the same direction, 0 for orthogonal, zero or mismatched vectors", () => {
    expect(cosineSimilarity([1, 2], [2, 4])).toBeCloseTo(1);
    expect(cosineSimilarity([1, 0], [0, 1])).toBe(0);
    expect(cosineSimilarity([0, 0], [1, 1])).toBe(0);
    expect(cosineSimilarity([1], [1, 1])).toBe(0);
  });
});

describe("createExperienceRetriever", () => {
  it("gives the matching lessons as prompt text, and reports load problems once", async () => {
    const dir = temporaryDirectory();
    writeFileSync(join(dir, "exp_a.yaml"), "experience_text: Sales chart bars are blue.\n");
    writeFileSync(join(dir, "exp_bad.yaml"), "nothing: here\n");
    const problems: unknown[] = [];
    const retrieve = createExperienceRetriever(createExperienceStore({ dir, model: createModel([]), threshold: 0.5 }), {
      onProblem: (problem) => problems.push(problem),
    });
    expect(await retrieve("a sales chart")).toBe("- Sales chart bars are blue.");
    expect(await retrieve("the weather")).toBeUndefined();
    expect(problems).toEqual([{ file: join(dir, "exp_bad.yaml"), message: expect.stringContaining("experience_text") }]);
  });

  it("gives undefined instead of an error when embedding fails", async () => {
    const dir = temporaryDirectory();
    writeFileSync(join(dir, "exp_a.yaml"), "experience_text: Anything.\n");
    const model = createModel([]);
    model.embed = async () => {
      throw new LlmNotConfiguredError("No embedding model is configured.", ["llm.embedding_model"]);
    };
    const problems: unknown[] = [];
    const retrieve = createExperienceRetriever(createExperienceStore({ dir, model }), { onProblem: (problem) => problems.push(problem) });
    expect(await retrieve("query")).toBeUndefined();
    expect(problems[0]).toMatchObject({ code: "llm_not_configured" });
  });
});
