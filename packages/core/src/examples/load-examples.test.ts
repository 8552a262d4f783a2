import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError } from "../errors.js";
import { ConversationSchema } from "../memory/types.js";
import { loadExamples } from "./load-examples.js";

const directories: string[] = [];

function exampleDir(files: Record<string, string>): string {
  const directory = mkdtempSync(join(tmpdir(), "tw-examples-"));
  directories.push(directory);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(directory, name), content);
  return directory;
}

afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const ROLES = { roleAliases: ["Planner", "CodeInterpreter"] };

const PLANNER_EXAMPLE = `enabled: True
rounds:
  - user_query: count the rows of /home/data.csv
    state: created
    post_list:
      - message: count the rows of /home/data.csv
        send_from: User
        send_to: Planner
        attachment_list:
      - message: Please load the data file /home/data.csv and count the rows
        send_from: Planner
        send_to: CodeInterpreter
        attachment_list:
          - type: init_plan
            content: |-
              1. load the data file
              2. count the rows <interactively depends on 1>
          - type: plan
            content: 1. load the data and count the rows
          - type: current_plan_step
            content: 1. load the data and count the rows
      - message: Load the data file /home/data.csv successfully and there are 100 rows
        send_from: CodeInterpreter
        send_to: Planner
        attachment_list:
          - type: review
            content: looks right
      - message: The data file /home/data.csv has 100 rows.
        send_from: Planner
        send_to: User
        attachment_list:
          - type: stop
            content: Completed
`;

function withRoles(from: string, to: string, extra = ""): string {
  return `rounds:
  - user_query: hi
    post_list:
      - message: hi
        send_from: User
        send_to: ${from}
      - message: there
        send_from: ${from}
        send_to: ${to}
${extra}`;
}

describe("loadExamples", () => {
  it("loads an example conversation, generating missing ids and keeping the retired review type", async () => {
    const directory = exampleDir({ "example-planner.yaml": PLANNER_EXAMPLE });
    const [conversation, ...rest] = await loadExamples(directory, ROLES);
    expect(rest).toEqual([]);
    expect(ConversationSchema.parse(conversation)).toEqual(conversation);
    expect(conversation?.id).toBe("example-planner");
    const round = conversation!.rounds[0]!;
    expect(round).toMatchObject({
      id: "round-example-example-planner-1",
      user_query: "count the rows of /home/data.csv",
    });
    expect(round.state).toBe("created");
    expect(round.post_list).toHaveLength(4);
    expect(round.post_list[0]).toEqual({
      id: "post-example-example-planner-1-1",
      send_from: "User",
      send_to: "Planner",
      message: "count the rows of /home/data.csv",
      attachment_list: [],
    });
    expect(round.post_list[1]!.attachment_list.map((attachment) => attachment.type)).toEqual([
      "init_plan",
      "plan",
      "current_plan_step",
    ]);
    expect(round.post_list[1]!.attachment_list[0]!.content).toBe(
      "1. load the data file\n2. count the rows <interactively depends on 1>",
    );
    expect(round.post_list[2]!.attachment_list[0]).toEqual({
      id: "atta-example-example-planner-1-3-1",
      type: "review",
      content: "looks right",
    });
  });

  it("keeps ids, extra fields and plugin lists given in the file", async () => {
    const directory = exampleDir({
      "a.yaml": `plugins: [anomaly_detection]
rounds:
  - id: round-1
    user_query: q
    state: finished
    post_list:
      - id: post-1
        message: q
        send_from: User
        send_to: CodeInterpreter
        attachment_list: []
      - id: post-2
        message: done
        send_from: CodeInterpreter
        send_to: User
        attachment_list:
          - id: atta-1
            type: reply_content
            content: print(1)
            extra: {lang: python}
          - type: execution_status
            content: SUCCESS
`,
    });
    const [conversation] = await loadExamples(directory, { roleAliases: ["CodeInterpreter"] });
    expect(conversation?.plugins).toEqual(["anomaly_detection"]);
    const round = conversation!.rounds[0]!;
    expect(round.id).toBe("round-1");
    expect(round.post_list.map((post) => post.id)).toEqual(["post-1", "post-2"]);
    expect(round.post_list[1]!.attachment_list).toEqual([
      { id: "atta-1", type: "reply_content", content: "print(1)", extra: { lang: "python" } },
      { id: "atta-example-a-1-2-2", type: "execution_status", content: "SUCCESS" },
    ]);
  });

  it("uses a given id generator", async () => {
    const directory = exampleDir({ "x.yaml": withRoles("Planner", "User") });
    let count = 0;
    const [conversation] = await loadExamples(directory, {
      ...ROLES,
      generateId: (kind) => `${kind}-${++count}`,
    });
    expect(conversation!.rounds[0]!.id).toBe("round-3");
    expect(conversation!.rounds[0]!.post_list.map((post) => post.id)).toEqual(["post-1", "post-2"]);
  });

  it("returns examples in file-name order and skips disabled ones", async () => {
    const directory = exampleDir({
      "c.yaml": withRoles("Planner", "User"),
      "a.yml": withRoles("Planner", "CodeInterpreter"),
      "b.yaml": `enabled: false\n${withRoles("Planner", "User")}`,
      "d.yaml": "enabled: false\nrounds: not even a list\n",
      "notes.txt": "ignored",
    });
    const conversations = await loadExamples(directory, ROLES);
    expect(conversations.map((conversation) => conversation.id)).toEqual(["a", "c"]);
  });

  it("uses an example only when every role it mentions is in the session", async () => {
    const directory = exampleDir({
      "planner-only.yaml": withRoles("Planner", "User"),
      "with-web.yaml": withRoles("Planner", "WebExplorer"),
      "ci-only.yaml": withRoles("CodeInterpreter", "User"),
    });
    expect((await loadExamples(directory, ROLES)).map((example) => example.id)).toEqual([
      "ci-only",
      "planner-only",
    ]);
    expect(
      (await loadExamples(directory, { roleAliases: ["CodeInterpreter"] })).map((example) => example.id),
    ).toEqual(["ci-only"]);
    expect(
      (await loadExamples(directory, { roleAliases: ["Planner", "CodeInterpreter", "WebExplorer"] })).map(
        (example) => example.id,
      ),
    ).toEqual(["ci-only", "planner-only", "with-web"]);
  });

  it("takes the user query from the first user post when the round has none", async () => {
    const directory = exampleDir({
      "q.yaml":
        "rounds:\n  - post_list:\n      - {message: what is 2+2, send_from: User, send_to: Planner}\n",
    });
    const [conversation] = await loadExamples(directory, ROLES);
    expect(conversation!.rounds[0]).toMatchObject({ user_query: "what is 2+2", state: "finished" });
  });

  it("turns scalar contents into text", async () => {
    const directory = exampleDir({
      "s.yaml":
        "rounds:\n  - user_query: q\n    post_list:\n      - message: 42\n        send_from: User\n        send_to: Planner\n" +
        "        attachment_list:\n          - {type: text, content: 7}\n",
    });
    const [conversation] = await loadExamples(directory, ROLES);
    const post = conversation!.rounds[0]!.post_list[0]!;
    expect(post.message).toBe("42");
    expect(post.attachment_list[0]!.content).toBe("7");
  });

  it("reads empty messages and contents as empty text", async () => {
    const directory = exampleDir({
      "e.yaml":
        "rounds:\n  - user_query: q\n    post_list:\n      - message:\n        send_from: User\n        send_to: Planner\n" +
        "        attachment_list:\n          - type: text\n            content:\n",
    });
    const [conversation] = await loadExamples(directory, ROLES);
    const post = conversation!.rounds[0]!.post_list[0]!;
    expect(post.message).toBe("");
    expect(post.attachment_list[0]!.content).toBe("");
  });

  it.each([
    ["rounds: []\n", "rounds", "at least one round"],
    ["enabled: 3\nrounds: []\n", "enabled", "expected boolean"],
    ["rounds:\n  - user_query: q\n    post_list: []\n", "rounds[0].post_list", "at least one post"],
    [
      "rounds:\n  - user_query: q\n    post_list:\n      - {message: m, send_to: Planner}\n",
      "rounds[0].post_list[0].send_from",
      "expected string",
    ],
    [
      "rounds:\n  - user_query: q\n    post_list:\n      - message: m\n        send_from: User\n        send_to: Planner\n        attachment_list:\n          - {type: not_a_type, content: x}\n",
      "rounds[0].post_list[0].attachment_list[0].type",
      '"review" (found "not_a_type")',
    ],
    [
      "rounds:\n  - user_query: q\n    state: done\n    post_list:\n      - {message: m, send_from: User, send_to: Planner}\n",
      "rounds[0].state",
      "expected one of",
    ],
    [
      "rounds:\n  - post_list:\n      - {message: m, send_from: Planner, send_to: CodeInterpreter}\n",
      "rounds[0].user_query",
      "no post comes from User",
    ],
  ])("throws ConfigError naming the file and field for %j", async (yamlText, field, detail) => {
    const directory = exampleDir({ "broken.yaml": yamlText });
    const error = await loadExamples(directory, ROLES).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain(join(directory, "broken.yaml"));
    expect(message).toContain(`field "${field}"`);
    expect(message).toContain(detail);
  });

  it("throws ConfigError for YAML that does not parse or is not a mapping", async () => {
    await expect(loadExamples(exampleDir({ "bad.yaml": "rounds: [\n" }), ROLES)).rejects.toThrow(
      /bad\.yaml is not valid YAML/,
    );
    await expect(loadExamples(exampleDir({ "list.yaml": "- 1\n" }), ROLES)).rejects.toThrow(ConfigError);
  });

  it("returns no examples for a missing folder and ignores subfolders", async () => {
    expect(await loadExamples(join(tmpdir(), "tw-no-such-example-folder"), ROLES)).toEqual([]);
    const directory = exampleDir({});
    mkdirSync(join(directory, "nested.yaml"));
    expect(await loadExamples(directory, ROLES)).toEqual([]);
  });
});
