import { readdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseYaml, stringify } from "yaml";
import { z } from "zod";
import { AbortedError, TaskWeaverError, toTaskWeaverError } from "../errors.js";
import { formatRoundsAsText } from "../compression/format-rounds.js";
import type { LanguageModel } from "../llm/types.js";
import { AttachmentTypeSchema, type Round } from "../memory/types.js";
import { fieldText, requestModelAnswer } from "../model-calls/model-answer.js";
import { experienceFileName } from "./save-experience.js";

/** A processed or hand-written experience file, `exp_<id>.yaml` (TaskWeaver's field names). */
export const ExperienceFileSchema = z.object({
  exp_id: z.string().optional(),
  experience_text: z.string().min(1, "must hold the lesson text"),
  raw_experience_path: z.string().optional(),
  embedding_model: z.string().optional(),
  embedding: z.array(z.number()).optional(),
  created_at: z.string().optional(),
});
export type ExperienceFile = z.infer<typeof ExperienceFileSchema>;

/**
 * A saved session, read leniently: files saved by other TaskWeaver versions may carry
 * attachment types or fields we do not know; the summary only needs the text.
 */
const RawSessionSchema = z.object({
  rounds: z.array(
    z.object({
      id: z.string().default(""),
      user_query: z.string().default(""),
      state: z.string().default("finished"),
      post_list: z
        .array(
          z.object({
            id: z.string().default(""),
            send_from: z.string().default("Unknown"),
            send_to: z.string().default("Unknown"),
            message: z.string().nullish().transform((value) => value ?? ""),
            attachment_list: z
              .array(z.object({ id: z.string().default(""), type: z.string(), content: z.unknown() }).loose())
              .nullish()
              .transform((value) => value ?? []),
          }),
        )
        .default([]),
    }),
  ),
});

function roundsOfRawSession(raw: unknown): Round[] {
  const session = RawSessionSchema.parse(raw);
  return session.rounds.map((round) => ({
    id: round.id,
    user_query: round.user_query,
    state: round.state === "failed" ? "failed" : "finished",
    post_list: round.post_list.map((post) => ({
      id: post.id,
      send_from: post.send_from,
      send_to: post.send_to,
      message: post.message,
      attachment_list: post.attachment_list.flatMap((attachment) => {
        const type = AttachmentTypeSchema.safeParse(attachment.type);
        if (!type.success) return [];
        const content = typeof attachment.content === "string" ? attachment.content : JSON.stringify(attachment.content ?? "");
        return [{ id: attachment.id, type: type.data, content }];
      }),
    })),
  }));
}

/** One lesson the store knows. */
export interface Experience {
  /** The `<id>` of `exp_<id>.yaml`. */
  id: string;
  text: string;
  embedding: number[];
  /** Absolute path of the `exp_*.yaml` file. */
  file: string;
}

/** A lesson found for a query. */
export interface ExperienceMatch {
  id: string;
  text: string;
  /** Cosine similarity of the lesson to the query, in [-1, 1]. */
  score: number;
}

/** A file the store could not use; the other files still count. */
export interface ExperienceProblem {
  file: string;
  message: string;
}

/** What one `load()` did. */
export interface ExperienceLoadReport {
  /** Lessons available for retrieval. */
  experiences: readonly Experience[];
  /** Ids of the raw sessions summarised by this load (new or changed since the last summary). */
  summarised: string[];
  problems: ExperienceProblem[];
}

export interface ExperienceStoreOptions {
  /** The experience folder (`session.experience_dir`). A missing folder means no experience. */
  dir: string;
  /** Summarises raw sessions (`streamChat`) and embeds lessons and queries (`embed`). */
  model: LanguageModel;
  /** Lowest cosine similarity a lesson needs to be retrieved (`experience.retrieve_threshold`). @default 0.2 */
  threshold?: number;
  /** Most lessons `retrieve` returns. @default no limit */
  limit?: number;
  /**
   * Names the embedding model in the files written, so that embeddings from another model are
   * recomputed instead of compared (`llm.embedding_model`).
   * @default model.modelId
   */
  embeddingModelId?: string;
  /** @default the JSON answer format */
  responseFormat?: "json_object" | "json_schema" | "text";
  /** Clock for `created_at`. @default () => new Date() */
  now?: () => Date;
}

export interface ExperienceStore {
  /**
   * Reads the folder: summarises raw sessions that have no lessons yet or changed since, then
   * embeds lessons that have no (current) embedding. A summary that fails is reported in
   * `problems` and tried again on the next load; failing embeddings throw.
   */
  load(options?: { signal?: AbortSignal }): Promise<ExperienceLoadReport>;
  /** Lessons similar to the query, best first, above the threshold. Loads the folder on first use. */
  retrieve(query: string, options?: { signal?: AbortSignal }): Promise<ExperienceMatch[]>;
}

const SUMMARY_SCHEMA: Record<string, unknown> = {
  type: "object",
  additionalProperties: false,
  required: ["experience"],
  properties: { experience: { type: "string" } },
};

const SUMMARY_PROMPT = `You review a finished TaskWeaver session (a Planner delegating to workers that run code) to extract lessons for future sessions.

Write the lessons that would help next time with a similar request: the approach that worked, mistakes that were made and how they were fixed, facts about the data or files (names, columns, formats), and preferences the user stated. Each lesson is one short, general sentence that makes sense without the conversation; skip anything specific to this one request that would not help again. If there is nothing worth keeping, say "No lessons.".

Reply with one JSON object and nothing else:
{"experience": "<the lessons, one per line, each starting with '- '>"}`;

/** Cosine similarity; 0 when either vector is all zeros or the lengths differ. */
export function cosineSimilarity(left: readonly number[], right: readonly number[]): number {
  if (left.length !== right.length || left.length === 0) return 0;
  let dot = 0;
  let leftNorm = 0;
  let rightNorm = 0;
  for (let index = 0; index < left.length; index += 1) {
    dot += left[index]! * right[index]!;
    leftNorm += left[index]! ** 2;
    rightNorm += right[index]! ** 2;
  }
  return leftNorm === 0 || rightNorm === 0 ? 0 : dot / Math.sqrt(leftNorm * rightNorm);
}

/**
 * The lessons as text for a system prompt (the roles put it under their own heading), or
 * `undefined` when there are none.
 */
export function formatExperience(experiences: readonly Pick<ExperienceMatch, "text">[]): string | undefined {
  const texts = experiences.map((experience) => experience.text.trim()).filter((text) => text !== "");
  if (texts.length === 0) return undefined;
  return texts.map((text) => (text.includes("\n") || text.startsWith("- ") ? text : `- ${text}`)).join("\n");
}

/** The lesson text of a summary answer: `{"experience": ...}`, or the plain text itself. */
function readSummary(answer: { text: string; fields: Readonly<Record<string, unknown>>; parseError: string | undefined }): string | undefined {
  if (!answer.parseError) return fieldText(answer.fields, "experience")?.trim() || undefined;
  const plain = answer.text
    .replace(/<think>[\s\S]*?<\/think>/g, "")
    .replace(/^\s*```\w*\n?|\n?```\s*$/g, "")
    .trim();
  return plain === "" || plain.startsWith("{") ? undefined : plain;
}

async function modifiedTime(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return undefined;
  }
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const partial = `${path}.${process.pid}.partial`;
  await writeFile(partial, text, "utf8");
  await rename(partial, path);
}

/**
 * The experience of an app: lessons summarised from saved sessions (`raw_exp_<id>.yaml`, see
 * `saveExperience`) and hand-written `exp_<id>.yaml` files, retrieved by embedding similarity.
 */
export function createExperienceStore(options: ExperienceStoreOptions): ExperienceStore {
  const threshold = options.threshold ?? 0.2;
  const embeddingModelId = options.embeddingModelId ?? options.model.modelId;
  const now = options.now ?? (() => new Date());
  let experiences: Experience[] = [];
  let loading: Promise<ExperienceLoadReport> | undefined;
  let loaded = false;

  async function summarise(rawFile: string, id: string, signal: AbortSignal | undefined): Promise<string> {
    let rounds: Round[];
    try {
      rounds = roundsOfRawSession(parseYaml(await readFile(rawFile, "utf8")));
    } catch (error) {
      const detail = error instanceof z.ZodError ? `field "${error.issues[0]?.path.join(".") ?? ""}" ${error.issues[0]?.message ?? "is invalid"}` : (error as Error).message.split("\n")[0];
      throw new TaskWeaverError("experience_invalid_file", `not a saved session: ${detail}`);
    }
    const answer = await requestModelAnswer(
      options.model,
      {
        messages: [
          { role: "system", content: SUMMARY_PROMPT },
          { role: "user", content: `The session ${id}:\n\n${formatRoundsAsText(rounds)}` },
        ],
        responseFormat: options.responseFormat ?? "json_object",
        jsonSchema: { name: "experience_summary", schema: SUMMARY_SCHEMA },
        signal,
        tag: "experience",
      },
      () => {},
    );
    const text = readSummary(answer);
    if (!text) throw new TaskWeaverError("experience_bad_summary", `the model's summary was empty or unusable: ${answer.text.slice(0, 200)}`);
    return text;
  }

  async function loadNow(signal: AbortSignal | undefined): Promise<ExperienceLoadReport> {
    const problems: ExperienceProblem[] = [];
    const summarised: string[] = [];
    let names: string[];
    try {
      names = (await readdir(options.dir)).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
        problems.push({ file: options.dir, message: `cannot read the experience folder: ${(error as Error).message}` });
      }
      experiences = [];
      return { experiences, summarised, problems };
    }

    // 1. Summarise raw sessions that are new, or newer than their lessons.
    for (const name of names) {
      const match = /^raw_exp_(.+)\.ya?ml$/.exec(name);
      if (!match) continue;
      const id = match[1]!;
      const rawFile = join(options.dir, name);
      const expFile = join(options.dir, experienceFileName(id));
      const [rawTime, expTime] = await Promise.all([modifiedTime(rawFile), modifiedTime(expFile)]);
      if (expTime !== undefined && rawTime !== undefined && rawTime <= expTime) continue;
      try {
        const text = await summarise(rawFile, id, signal);
        const [embedding] = await options.model.embed([text], { signal });
        const file: ExperienceFile = {
          exp_id: id,
          experience_text: text,
          raw_experience_path: rawFile,
          embedding_model: embeddingModelId,
          embedding: embedding!,
          created_at: now().toISOString(),
        };
        await writeAtomically(expFile, stringify(file, { lineWidth: 0 }));
        summarised.push(id);
      } catch (error) {
        if (signal?.aborted) throw new AbortedError();
        problems.push({ file: rawFile, message: `could not summarise it into lessons: ${(error as Error).message}` });
      }
    }

    // 2. Read every lesson file; embed those without a current embedding (hand-written ones).
    const found: Experience[] = [];
    const toEmbed: Experience[] = [];
    for (const name of (await readdir(options.dir)).sort()) {
      const match = /^exp_(.+)\.ya?ml$/.exec(name);
      if (!match) continue;
      const file = join(options.dir, name);
      let parsed: ReturnType<typeof ExperienceFileSchema.safeParse>;
      try {
        parsed = ExperienceFileSchema.safeParse(parseYaml(await readFile(file, "utf8")));
      } catch (error) {
        problems.push({ file, message: `not valid YAML: ${(error as Error).message.split("\n")[0]}` });
        continue;
      }
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        problems.push({ file, message: `field "${issue?.path.join(".") || "(root)"}" ${issue?.message ?? "is invalid"}` });
        continue;
      }
      const experience: Experience = {
        id: parsed.data.exp_id ?? match[1]!,
        text: parsed.data.experience_text.trim(),
        embedding: parsed.data.embedding ?? [],
        file,
      };
      const current = parsed.data.embedding !== undefined && parsed.data.embedding_model === embeddingModelId;
      if (!current) toEmbed.push(experience);
      found.push(experience);
    }
    if (toEmbed.length > 0) {
      // Hand-written lessons are used as written: embedded in memory, their files left alone.
      const vectors = await options.model.embed(
        toEmbed.map((experience) => experience.text),
        { signal },
      );
      toEmbed.forEach((experience, index) => {
        experience.embedding = vectors[index] ?? [];
      });
    }
    experiences = found;
    loaded = true;
    return { experiences, summarised, problems };
  }

  const store: ExperienceStore = {
    load(loadOptions = {}) {
      loading ??= loadNow(loadOptions.signal).finally(() => {
        loading = undefined;
      });
      return loading;
    },
    async retrieve(query, retrieveOptions = {}) {
      if (!loaded) await store.load(retrieveOptions);
      if (experiences.length === 0) return [];
      const [vector] = await options.model.embed([query], { signal: retrieveOptions.signal });
      const matches = experiences
        .map((experience) => ({ id: experience.id, text: experience.text, score: cosineSimilarity(vector ?? [], experience.embedding) }))
        .filter((match) => match.score >= threshold)
        .sort((left, right) => right.score - left.score);
      return options.limit === undefined ? matches : matches.slice(0, options.limit);
    },
  };
  return store;
}

/** The lessons for a request as prompt text, or `undefined` when none apply. */
export type ExperienceRetriever = (query: string, options?: { signal?: AbortSignal }) => Promise<string | undefined>;

export interface ExperienceRetrieverOptions {
  /** Told about problems (unusable files, failed summaries or embeddings); retrieval goes on without them. */
  onProblem?: (problem: ExperienceProblem | TaskWeaverError) => void;
}

/**
 * The store as one call for a role: the lessons for a request as prompt text, or `undefined`
 * when there are none. Experience is a help, not a requirement: problems (a failed summary, an
 * embedding endpoint that is down) are reported to `onProblem` and give `undefined`, never an
 * error; only an abort throws.
 */
export function createExperienceRetriever(store: ExperienceStore, options: ExperienceRetrieverOptions = {}): ExperienceRetriever {
  let reported = false;
  return async (query, retrieveOptions = {}) => {
    try {
      if (!reported) {
        // The first call loads the folder; its problems are worth telling once.
        reported = true;
        const report = await store.load(retrieveOptions);
        for (const problem of report.problems) options.onProblem?.(problem);
      }
      return formatExperience(await store.retrieve(query, retrieveOptions));
    } catch (error) {
      if (retrieveOptions.signal?.aborted) throw new AbortedError();
      options.onProblem?.(toTaskWeaverError(error));
      return undefined;
    }
  };
}
