import { readdir, readFile } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ConfigError } from "../errors.js";
import {
  AttachmentTypeSchema,
  RoundStateSchema,
  type Conversation,
  type Post,
  type Round,
} from "../memory/types.js";
import { fieldPath, valueAt } from "../parsing/zod-issues.js";

/**
 * YAML scalars such as `content: 3` or `content: true` are text to the model, and an empty
 * key (`message:` with nothing after it) reads as null: empty text.
 */
const TextSchema = z
  .union([z.string(), z.number(), z.boolean(), z.null()])
  .transform((value) => (value === null ? "" : String(value)));

/**
 * An example file as people write it: TaskWeaver's conversation format, where ids are
 * optional (they are generated) and the retired `review` attachment type is still accepted.
 */
const ExampleAttachmentSchema = z.object({
  id: z.string().optional(),
  type: AttachmentTypeSchema,
  content: TextSchema,
  extra: z.unknown().optional(),
});

const ExamplePostSchema = z.object({
  id: z.string().optional(),
  send_from: z.string().min(1),
  send_to: z.string().min(1),
  message: TextSchema.default(""),
  attachment_list: z.array(ExampleAttachmentSchema).nullish(),
});

const ExampleRoundSchema = z.object({
  id: z.string().optional(),
  user_query: TextSchema.optional(),
  state: RoundStateSchema.default("finished"),
  post_list: z.array(ExamplePostSchema).min(1, "must hold at least one post"),
});

const ExampleFileSchema = z.object({
  enabled: z.boolean().default(true),
  rounds: z.array(ExampleRoundSchema).min(1, "must hold at least one round"),
  plugins: z.array(z.string()).optional(),
});

/** Options for `loadExamples`. */
export interface LoadExamplesOptions {
  /**
   * Aliases of the roles in the session (`Planner`, `CodeInterpreter`, ...). An example is
   * used only when every role it mentions, other than `User`, is among them.
   */
  roleAliases: readonly string[];
  /**
   * Creates ids for rounds, posts and attachments that the file leaves out.
   * @default ids derived from the file name and position, so prompts are the same on every load
   */
  generateId?: (kind: "round" | "post" | "atta", fileStem: string, position: readonly number[]) => string;
  /**
   * Receives each example file that cannot be used (not YAML, a field missing or wrong), which
   * is then left out. Without it such a file throws `ConfigError`.
   */
  onProblem?: (problem: ExampleProblem) => void;
}

/** An example file that was left out, and why (naming the field). */
export interface ExampleProblem {
  file: string;
  message: string;
}

const USER_ALIAS = "User";

function defaultIdGenerator(kind: string, fileStem: string, position: readonly number[]): string {
  return `${kind}-example-${fileStem}-${position.map((index) => index + 1).join("-")}`;
}

function mentionedRoles(rounds: readonly Round[]): Set<string> {
  const roles = new Set<string>();
  for (const round of rounds) {
    for (const post of round.post_list) {
      for (const alias of [post.send_from, post.send_to]) if (alias !== USER_ALIAS) roles.add(alias);
    }
  }
  return roles;
}

function parseExample(
  file: string,
  raw: unknown,
  generateId: NonNullable<LoadExamplesOptions["generateId"]>,
): Conversation | undefined {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`The example file ${file} must hold a mapping with "enabled" and "rounds".`);
  }
  // Switched off on purpose, perhaps unfinished: not validated.
  if ((raw as { enabled?: unknown }).enabled === false) return undefined;
  const parsed = ExampleFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = fieldPath(issue.path) || "(root)";
    const value = valueAt(raw, issue.path);
    throw new ConfigError(
      `The example file ${file} is invalid at field "${path}": ` +
        `${issue.message.replace(/^Invalid (input|option): /, "")}${value === undefined ? "" : ` (found ${value})`}.`,
    );
  }
  const stem = basename(file, extname(file));
  const rounds = parsed.data.rounds.map((round, roundIndex): Round => {
    const posts = round.post_list.map((post, postIndex): Post => ({
      id: post.id ?? generateId("post", stem, [roundIndex, postIndex]),
      send_from: post.send_from,
      send_to: post.send_to,
      message: post.message,
      attachment_list: (post.attachment_list ?? []).map((attachment, attachmentIndex) => {
        const id = attachment.id ?? generateId("atta", stem, [roundIndex, postIndex, attachmentIndex]);
        return attachment.extra === undefined
          ? { id, type: attachment.type, content: attachment.content }
          : { id, type: attachment.type, content: attachment.content, extra: attachment.extra };
      }),
    }));
    // Older files leave the query out; it is the first message from the user.
    const userQuery = round.user_query ?? posts.find((post) => post.send_from === USER_ALIAS)?.message;
    if (userQuery === undefined) {
      throw new ConfigError(
        `The example file ${file} is invalid at field "rounds[${roundIndex}].user_query": ` +
          "it is missing and no post comes from User.",
      );
    }
    return {
      id: round.id ?? generateId("round", stem, [roundIndex]),
      user_query: userQuery,
      state: round.state,
      post_list: posts,
    };
  });
  const conversation: Conversation = { id: stem, rounds, enabled: true };
  if (parsed.data.plugins) conversation.plugins = parsed.data.plugins;
  return conversation;
}

async function readExampleYaml(file: string): Promise<unknown> {
  try {
    return parseYaml(await readFile(file, "utf8"));
  } catch (error) {
    throw new ConfigError(`The example file ${file} is not valid YAML: ${(error as Error).message.split("\n")[0]}`, {
      cause: error,
    });
  }
}

/**
 * Reads the few-shot example conversations in `directory` (`*.yaml` / `*.yml`, in file-name
 * order), skipping disabled ones and those that mention a role the session does not have.
 * A missing directory means no examples. A malformed file goes to `onProblem` and is left out;
 * without `onProblem` it throws `ConfigError` naming the file and the field, because a silently
 * dropped example changes the model's behaviour.
 */
export async function loadExamples(directory: string, options: LoadExamplesOptions): Promise<Conversation[]> {
  let names: string[];
  try {
    const entries = await readdir(directory, { withFileTypes: true });
    names = entries
      .filter((entry) => !entry.isDirectory() && /\.ya?ml$/i.test(entry.name))
      .map((entry) => entry.name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new ConfigError(`Cannot read the example folder ${directory}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  names.sort();
  const available = new Set(options.roleAliases);
  const generateId = options.generateId ?? defaultIdGenerator;
  const conversations: Conversation[] = [];
  for (const name of names) {
    const file = join(directory, name);
    let conversation: Conversation | undefined;
    try {
      conversation = parseExample(file, await readExampleYaml(file), generateId);
    } catch (error) {
      if (!options.onProblem || !ConfigError.isInstance(error)) throw error;
      options.onProblem({ file, message: error.message });
      continue;
    }
    if (!conversation) continue;
    const roles = mentionedRoles(conversation.rounds);
    if ([...roles].every((role) => available.has(role))) conversations.push(conversation);
  }
  return conversations;
}
