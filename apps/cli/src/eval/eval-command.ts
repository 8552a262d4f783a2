import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseConfigAssignments, TaskWeaverError } from "@taskweaver/core";
import { findCaseFiles, loadEvalCase, type EvalCase } from "./case-file.js";
import { createProgress } from "./progress.js";
import { buildReport, formatCsv, formatPointLines, formatTable } from "./report.js";
import { runCase, type CaseOutcome, type CreateEvalApp, type Recording } from "./run-case.js";

export const EVAL_HELP_TEXT = `Usage: taskweaver eval CASES... [options]

Runs evaluation cases in TaskWeaver's auto_eval YAML format: a model plays the user described
by task_description and talks to a fresh session of the app until it says TASK_FINISHED; then
each scoring point is judged by the model, or by its eval_code (Python assertions run in the
session's kernel, with chat_history at hand). CASES are case files, or folders holding them
(directly or one subfolder down).

Options:
  -p, --project DIR       the app directory for every case (wins over a case's app_dir);
                          default: the case's app_dir, else the nearest app directory
  --config KEY=VALUE      set a config key for every case (repeatable; wins over config_var)
  --record DIR            keep every model answer, one file per case in DIR
  --replay DIR            answer every model call from the recordings in DIR: no model needed
  --concurrency N         cases run at once (default 1)
  --max-rounds N          agent replies per case (default virtual_user.max_rounds, else 5)
  --user-model ALIAS      the model playing the user: an entry of ext_llms.llm_configs
                          (default: the app's model)
  --judge-model ALIAS     the model judging scoring points without eval_code, likewise
  --report FILE           the JSON report (default eval-report.json)
  --csv FILE              the CSV of case_file,score,normalized_score (default eval-results.csv)
  -h, --help              print this help

Exit code 0 when every case ran and was scored (whatever its score), 1 when a case could not
run, 2 for a command line that cannot be understood.
`;

/** What `taskweaver eval` was asked. */
export interface EvalCommandLine {
  cases: string[];
  projectDir: string | undefined;
  configAssignments: string[];
  recording: Recording | undefined;
  concurrency: number;
  maxRounds: number | undefined;
  /** `--user-model`, `--judge-model`: aliases of `ext_llms.llm_configs`. */
  userModelAlias: string | undefined;
  judgeModelAlias: string | undefined;
  reportFile: string;
  csvFile: string;
}

function positiveInteger(text: string | undefined, option: string): number | string | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  return Number.isInteger(value) && value > 0 ? value : `${option} needs a whole number above 0, not "${text}".`;
}

/** Parses the arguments after `eval`. Returns the help request or a message for a bad command line. */
export function parseEvalCommandLine(argv: readonly string[]): EvalCommandLine | { help: true } | { invalid: string } {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        project: { type: "string", short: "p" },
        config: { type: "string", multiple: true },
        record: { type: "string" },
        replay: { type: "string" },
        concurrency: { type: "string" },
        "max-rounds": { type: "string" },
        "user-model": { type: "string" },
        "judge-model": { type: "string" },
        report: { type: "string" },
        csv: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    return { invalid: `${(error as Error).message}. Run taskweaver eval --help for the options.` };
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  if (positionals.length === 0) return { invalid: "taskweaver eval needs at least one case file or folder." };
  if (values.record !== undefined && values.replay !== undefined) {
    return { invalid: "--record and --replay exclude each other: record once, then replay." };
  }
  const concurrency = positiveInteger(values.concurrency, "--concurrency");
  const maxRounds = positiveInteger(values["max-rounds"], "--max-rounds");
  if (typeof concurrency === "string") return { invalid: concurrency };
  if (typeof maxRounds === "string") return { invalid: maxRounds };
  const recording: Recording | undefined =
    values.record !== undefined
      ? { mode: "record", dir: values.record }
      : values.replay !== undefined
        ? { mode: "replay", dir: values.replay }
        : undefined;
  return {
    cases: positionals,
    projectDir: values.project,
    configAssignments: values.config ?? [],
    recording,
    concurrency: concurrency ?? 1,
    maxRounds,
    userModelAlias: values["user-model"],
    judgeModelAlias: values["judge-model"],
    reportFile: values.report ?? "eval-report.json",
    csvFile: values.csv ?? "eval-results.csv",
  };
}

/** Options of `runEvalCommand`: `main`'s streams and environment. */
export interface EvalCommandOptions {
  argv: readonly string[];
  env: Record<string, string | undefined>;
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  cwd: string;
  signal?: AbortSignal;
  /** @default createTaskWeaver with the executors of `@taskweaver/executor` */
  createApp?: CreateEvalApp;
}

const defaultCreateApp: CreateEvalApp = async (options) => {
  const [{ createTaskWeaver }, { createExecutorFactory }] = await Promise.all([
    import("@taskweaver/core"),
    import("@taskweaver/executor"),
  ]);
  return createTaskWeaver({ ...options, createExecutorFactory });
};

/** Runs `items` with at most `limit` at once, keeping their order in the result. */
async function mapConcurrently<T, R>(items: readonly T[], limit: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await run(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** `taskweaver eval`: resolves with the exit code. */
export async function runEvalCommand(options: EvalCommandOptions): Promise<number> {
  const commandLine = parseEvalCommandLine(options.argv);
  if ("help" in commandLine) {
    options.stdout.write(EVAL_HELP_TEXT);
    return 0;
  }
  if ("invalid" in commandLine) {
    options.stderr.write(`Error: ${commandLine.invalid}\n`);
    return 2;
  }
  let cases: EvalCase[];
  let configOverrides: Record<string, unknown>;
  try {
    configOverrides = parseConfigAssignments(commandLine.configAssignments);
    cases = findCaseFiles(commandLine.cases, options.cwd).map(({ file, name }) => loadEvalCase(file, name, options.cwd));
  } catch (error) {
    options.stderr.write(`Error: ${TaskWeaverError.isInstance(error) ? error.message : String(error)}\n`);
    return 2;
  }
  const recording = commandLine.recording
    ? { ...commandLine.recording, dir: resolve(options.cwd, commandLine.recording.dir) }
    : undefined;
  const startedAt = new Date();
  const progress = createProgress(options.stderr, cases.length);
  const outcomes: CaseOutcome[] = await mapConcurrently(cases, commandLine.concurrency, async (evalCase) => {
    progress.started(evalCase.name);
    const outcome = await runCase(evalCase, {
      createApp: options.createApp ?? defaultCreateApp,
      env: options.env,
      cwd: options.cwd,
      configOverrides,
      ...(commandLine.projectDir !== undefined ? { projectDir: commandLine.projectDir } : {}),
      ...(recording ? { recording } : {}),
      ...(commandLine.maxRounds !== undefined ? { maxRounds: commandLine.maxRounds } : {}),
      ...(commandLine.userModelAlias !== undefined ? { userModelAlias: commandLine.userModelAlias } : {}),
      ...(commandLine.judgeModelAlias !== undefined ? { judgeModelAlias: commandLine.judgeModelAlias } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    progress.finished(
      evalCase.name,
      outcome.status === "scored"
        ? `${outcome.score.score}/${outcome.score.maxScore} (${outcome.score.normalizedScore.toFixed(2)})`
        : "could not run",
    );
    return outcome;
  });
  progress.done();

  options.stdout.write(`${formatTable(outcomes)}\n${outcomes.flatMap(formatPointLines).join("\n")}\n`);
  const report = buildReport(outcomes, {
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    ...(recording ? { recording } : {}),
  });
  const reportFile = resolve(options.cwd, commandLine.reportFile);
  const csvFile = resolve(options.cwd, commandLine.csvFile);
  for (const file of [reportFile, csvFile]) mkdirSync(dirname(file), { recursive: true });
  writeFileSync(reportFile, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(csvFile, formatCsv(outcomes));
  options.stdout.write(`\nReport: ${reportFile}\nCSV: ${csvFile}\n`);

  const failed = outcomes.filter((outcome) => outcome.status === "error");
  for (const outcome of failed) {
    if (outcome.status === "error") options.stderr.write(`Error: the case ${outcome.case.name} could not run: ${outcome.error}\n`);
  }
  return failed.length > 0 ? 1 : 0;
}
