import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { ConfigError } from "@taskweaver/core";
import { parse } from "yaml";
import { z } from "zod";

/**
 * One evaluation case in the original TaskWeaver's `auto_eval` YAML format. Field names are
 * the original's, so its case files load unchanged.
 */
const ScoringPointSchema = z.object({
  score_point: z.string().min(1, "must say what is checked"),
  weight: z.number().positive("must be a number above 0"),
  /** Python assertions; `null` in the original's files means "judged by the model". */
  eval_code: z.string().nullish(),
});

const StringListSchema = z.union([z.string().transform((value) => [value]), z.array(z.string())]);

const CaseFileSchema = z.object({
  version: z.union([z.number(), z.string()]).optional(),
  config_var: z.record(z.string(), z.unknown()).nullish(),
  app_dir: z.string().nullish(),
  dependencies: StringListSchema.nullish(),
  data_files: StringListSchema.nullish(),
  pre_command: StringListSchema.nullish(),
  verbose: z.boolean().nullish(),
  task_description: z.string().min(1, "must describe the task"),
  scoring_points: z.array(ScoringPointSchema).min(1, "needs at least one scoring point"),
});

/** A scoring point of a case. */
export interface ScoringPoint {
  /** What is checked, in words (the statement the judge rules on). */
  scorePoint: string;
  weight: number;
  /** Python assertions run in the session's kernel; absent: the model judges. */
  evalCode: string | undefined;
}

/** A loaded, validated evaluation case. */
export interface EvalCase {
  /** Absolute path of the YAML file. */
  file: string;
  /** The name in reports and the CSV's `case_file` column: the path relative to the folder given. */
  name: string;
  /** Config keys applied for this case (`config_var`). */
  configVar: Record<string, unknown>;
  /**
   * The app directory of `app_dir`, if the case names one: resolved against the case file's
   * folder, or, when no such folder exists, against the current directory (the original ran
   * its cases from `auto_eval/`, so its `app_dir: ../project/` means that).
   */
  appDir: string | undefined;
  /** Python packages the kernel must have, e.g. `numpy` or `pandas>=2.0`. */
  dependencies: string[];
  /** Absolute paths of files and folders copied into the session's working directory (after pre_command). */
  dataFiles: string[];
  /** Shell commands run in the case's folder before the session starts. */
  preCommands: string[];
  verbose: boolean;
  taskDescription: string;
  scoringPoints: ScoringPoint[];
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  const field = issue.path
    .map((part) => (typeof part === "number" ? `[${part}]` : `.${String(part)}`))
    .join("")
    .replace(/^\./, "");
  let value: unknown = raw;
  for (const part of issue.path) {
    value = typeof value === "object" && value !== null ? (value as Record<PropertyKey, unknown>)[part] : undefined;
  }
  const found = value === undefined ? "it is missing" : `found ${JSON.stringify(value)?.slice(0, 60)}`;
  return `field "${field || "(top level)"}" ${issue.message} (${found})`;
}

/**
 * Reads and validates one case file. Throws `ConfigError` naming the file and the field.
 * `name` is how reports call the case; by default the file's name.
 */
export function loadEvalCase(file: string, name = basename(file), cwd = process.cwd()): EvalCase {
  const path = resolve(cwd, file);
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ConfigError(`The evaluation case ${path} cannot be read as YAML: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError(
      `The evaluation case ${path} is not a YAML mapping with task_description and scoring_points.`,
    );
  }
  const result = CaseFileSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => describeIssue(issue, raw));
    throw new ConfigError(`The evaluation case ${path} is not valid: ${problems.join("; ")}.`);
  }
  const data = result.data;
  const folder = dirname(path);
  // Existence is checked when the case runs: its pre_command may create them.
  const dataFiles = (data.data_files ?? []).map((entry) => resolve(folder, entry));
  let appDir: string | undefined;
  if (data.app_dir !== undefined && data.app_dir !== null && data.app_dir !== "") {
    const besideCase = resolve(folder, data.app_dir);
    const fromCwd = resolve(cwd, data.app_dir);
    appDir = !existsSync(besideCase) && existsSync(fromCwd) ? fromCwd : besideCase;
  }
  return {
    file: path,
    name,
    configVar: data.config_var ?? {},
    appDir,
    dependencies: data.dependencies ?? [],
    dataFiles,
    preCommands: data.pre_command ?? [],
    verbose: data.verbose ?? false,
    taskDescription: data.task_description,
    scoringPoints: data.scoring_points.map((point) => ({
      scorePoint: point.score_point,
      weight: point.weight,
      evalCode: point.eval_code !== undefined && point.eval_code !== null && point.eval_code.trim() !== "" ? point.eval_code : undefined,
    })),
  };
}

const CASE_EXTENSION = /\.ya?ml$/i;

function yamlFilesIn(folder: string): string[] {
  return readdirSync(folder)
    .filter((entry) => CASE_EXTENSION.test(entry) && statSync(join(folder, entry)).isFile())
    .sort()
    .map((entry) => join(folder, entry));
}

/**
 * The case files of the paths given: a file is one case; a folder holds cases as YAML files
 * directly in it and in its subfolders one level down (the original keeps one case per folder,
 * beside its data files). Names are relative to the folder given. Throws `ConfigError` for a
 * path that does not exist or a folder without cases.
 */
export function findCaseFiles(paths: readonly string[], cwd: string): { file: string; name: string }[] {
  const found: { file: string; name: string }[] = [];
  for (const given of paths) {
    const path = resolve(cwd, given);
    if (!existsSync(path)) throw new ConfigError(`The evaluation case path ${path} does not exist.`);
    if (statSync(path).isFile()) {
      found.push({ file: path, name: basename(path) });
      continue;
    }
    const files = [
      ...yamlFilesIn(path),
      ...readdirSync(path)
        .filter((entry) => !entry.startsWith(".") && statSync(join(path, entry)).isDirectory())
        .sort()
        .flatMap((entry) => yamlFilesIn(join(path, entry))),
    ];
    if (files.length === 0) {
      throw new ConfigError(
        `The folder ${path} holds no evaluation cases: expected .yaml files in it or in its subfolders.`,
      );
    }
    for (const file of files) found.push({ file, name: relative(path, file).split("\\").join("/") });
  }
  return found;
}
