import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import type { TaskWeaverEvent } from "../events/types.js";
import type { Artifact, CodeExecutor, ExecuteOptions, ExecutionResult } from "../executor/contract.js";
import type { Round } from "../memory/types.js";
import { formatExecutionResult } from "../prompts/execution-report.js";

/**
 * A TaskWeaver session as the MCP server uses it: the members of core's `Session` it calls.
 * Declared here (not imported) because sessions live in a higher layer than this folder.
 */
export interface McpHostedSession {
  readonly id: string;
  sendMessage(message: string, options?: { onEvent?: (event: TaskWeaverEvent) => void; signal?: AbortSignal }): Promise<Round>;
  executor(): Promise<CodeExecutor>;
  stop(): Promise<void>;
}

/** What the MCP server needs of a TaskWeaver app: opening sessions (`TaskWeaverApp` fits). */
export interface McpSessionSource {
  createSession(options?: { warmUp?: boolean }): Promise<McpHostedSession>;
}

/** Options of `createTaskWeaverMcpServer`. */
export interface TaskWeaverMcpServerOptions {
  app: McpSessionSource;
  /** @default { name: "taskweaver", version: "0.1.0" } */
  serverInfo?: { name: string; version: string };
  /** Time limit of one `execute_python` call, in ms. @default the executor's */
  executionTimeoutMs?: number;
}

/** One MCP session's server: the SDK server to connect to a transport, and its TaskWeaver sessions. */
export interface TaskWeaverMcpServer {
  readonly server: McpServer;
  /** Stops every TaskWeaver session this MCP session opened. Idempotent. */
  close(): Promise<void>;
}

const FILE_URI_PREFIX = "taskweaver://sessions/";

/** `taskweaver://sessions/<id>/files/<name>`, the resource of a session's file. */
export function sessionFileUri(sessionId: string, name: string): string {
  return `${FILE_URI_PREFIX}${encodeURIComponent(sessionId)}/files/${encodeURIComponent(name)}`;
}

const MIME_OF_EXTENSION: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  svg: "image/svg+xml",
  csv: "text/csv",
  txt: "text/plain",
  md: "text/markdown",
  json: "application/json",
  html: "text/html",
  py: "text/x-python",
};

function mimeTypeOf(name: string): string {
  return MIME_OF_EXTENSION[name.split(".").pop()?.toLowerCase() ?? ""] ?? "application/octet-stream";
}

function isText(mimeType: string): boolean {
  return mimeType.startsWith("text/") || mimeType === "application/json" || mimeType === "image/svg+xml";
}

type Content = CallToolResult["content"][number];

/** Images as image content (the client shows them), other files as links to their resources. */
async function artifactContent(sessionId: string, executor: CodeExecutor, artifacts: readonly Artifact[]): Promise<Content[]> {
  const content: Content[] = [];
  for (const artifact of artifacts) {
    if (artifact.mimeType.startsWith("image/") && artifact.mimeType !== "image/svg+xml") {
      const data = await executor.downloadFile(artifact.path).catch(() => undefined);
      if (data) {
        content.push({ type: "image", data: Buffer.from(data).toString("base64"), mimeType: artifact.mimeType });
        continue;
      }
    }
    content.push({
      type: "resource_link",
      uri: sessionFileUri(sessionId, artifact.path),
      name: artifact.path,
      mimeType: artifact.mimeType,
      description: artifact.description,
    });
  }
  return content;
}

/** The artifacts of a round, from its CodeInterpreter's `artifact_paths` attachments. */
function roundArtifacts(round: Round): Artifact[] {
  const artifacts: Artifact[] = [];
  for (const post of round.post_list) {
    for (const attachment of post.attachment_list) {
      if (attachment.type !== "artifact_paths") continue;
      const extra = attachment.extra as { artifacts?: Artifact[] } | undefined;
      artifacts.push(...(extra?.artifacts ?? []));
    }
  }
  return artifacts;
}

function describeEvent(event: TaskWeaverEvent): string | undefined {
  switch (event.type) {
    case "post-start":
      return `${event.role} is working`;
    case "post-status":
      return `${event.role}: ${event.status}`;
    case "execution-output":
      return `${event.stream}: ${event.text.trimEnd().slice(-200)}`;
    case "post-end":
      return `${event.post.send_from} -> ${event.post.send_to}: ${event.post.message.slice(0, 200)}`;
    default:
      return undefined;
  }
}

function errorResult(message: string): CallToolResult {
  return { content: [{ type: "text", text: message }], isError: true };
}

/**
 * TaskWeaver as an MCP server, for one MCP session: `run_task` runs a round (planning, code,
 * answer), `execute_python` runs code in a session's kernel with no model, and the files of
 * the sessions it opened are resources. Connect `server` to a transport (stdio, Streamable
 * HTTP); call `close` when the MCP session ends.
 */
export function createTaskWeaverMcpServer(options: TaskWeaverMcpServerOptions): TaskWeaverMcpServer {
  const server = new McpServer(options.serverInfo ?? { name: "taskweaver", version: "0.1.0" }, {
    instructions:
      "TaskWeaver is a code-first data analyst. run_task plans a request, writes and runs Python, and answers; execute_python runs Python directly in a stateful kernel. Pass the session_id a call returns to continue in the same session (variables, files).",
  });
  const sessions = new Map<string, McpHostedSession>();
  let defaultSession: Promise<McpHostedSession> | undefined;
  let closed = false;

  const open = async (): Promise<McpHostedSession> => {
    const session = await options.app.createSession();
    sessions.set(session.id, session);
    if (closed) {
      await session.stop();
      throw new Error("The MCP session is closed.");
    }
    return session;
  };
  const find = (sessionId: string): McpHostedSession => {
    const session = sessions.get(sessionId);
    if (!session) {
      throw new Error(
        `There is no session ${JSON.stringify(sessionId)} in this MCP session; leave session_id out to start a new one.`,
      );
    }
    return session;
  };

  server.registerTool(
    "run_task",
    {
      title: "Run a task with TaskWeaver",
      description:
        "Gives a request to TaskWeaver's planner, which writes and runs Python in a kernel until it can answer. Returns the answer, the session id (pass it again to continue with the same variables and files) and the files it made (images inline).",
      inputSchema: {
        request: z.string().min(1).describe("What to do, in plain words, e.g. 'load sales.csv and plot revenue by month'"),
        session_id: z.string().optional().describe("Continue in this session (from an earlier result); a new session when left out"),
      },
      annotations: { openWorldHint: true },
    },
    async ({ request, session_id }, extra) => {
      let session: McpHostedSession;
      try {
        session = session_id ? find(session_id) : await open();
      } catch (error) {
        return errorResult((error as Error).message);
      }
      const progressToken = extra._meta?.progressToken;
      let progress = 0;
      const onEvent = (event: TaskWeaverEvent) => {
        if (progressToken === undefined) return;
        const message = describeEvent(event);
        if (!message) return;
        progress += 1;
        void extra
          .sendNotification({ method: "notifications/progress", params: { progressToken, progress, message } })
          .catch(() => undefined);
      };
      let round: Round;
      try {
        round = await session.sendMessage(request, { onEvent, signal: extra.signal });
      } catch (error) {
        return errorResult(`The round failed in session ${session.id}: ${(error as Error).message}`);
      }
      const last = round.post_list.at(-1);
      const answer = last?.message ?? "";
      const artifacts = roundArtifacts(round);
      const executor = await session.executor();
      const structured = {
        session_id: session.id,
        state: round.state,
        answer,
        artifacts: artifacts.map((artifact) => ({ path: artifact.path, type: artifact.type, uri: sessionFileUri(session.id, artifact.path) })),
      };
      return {
        content: [
          { type: "text", text: answer },
          { type: "text", text: `session_id: ${session.id}` },
          ...(await artifactContent(session.id, executor, artifacts)),
        ],
        structuredContent: structured,
        isError: round.state !== "finished",
      };
    },
  );

  server.registerTool(
    "execute_python",
    {
      title: "Run Python in a TaskWeaver kernel",
      description:
        "Runs Python in a stateful Jupyter kernel, with no model involved. Variables, imports and files stay between calls of this MCP session (or of the session_id given). Returns the output, the value of the last expression, errors with their traceback, and figures as images.",
      inputSchema: {
        code: z.string().describe("Python code; the value of the last expression is shown"),
        session_id: z.string().optional().describe("Run in this session (from an earlier result); else this MCP session's own kernel"),
      },
    },
    async ({ code, session_id }, extra) => {
      let session: McpHostedSession;
      try {
        session = session_id ? find(session_id) : await (defaultSession ??= open().catch((error: unknown) => {
          defaultSession = undefined;
          throw error;
        }));
      } catch (error) {
        return errorResult((error as Error).message);
      }
      const executor = await session.executor();
      const executeOptions: ExecuteOptions = { signal: extra.signal };
      if (options.executionTimeoutMs !== undefined) executeOptions.timeoutMs = options.executionTimeoutMs;
      const result: ExecutionResult = await executor.execute(code, executeOptions);
      return {
        content: [
          { type: "text", text: formatExecutionResult(result) },
          { type: "text", text: `session_id: ${session.id}` },
          ...(await artifactContent(session.id, executor, result.artifacts)),
        ],
        structuredContent: {
          session_id: session.id,
          outcome: result.outcome,
          output: result.output,
          stdout: result.stdout.join(""),
          stderr: result.stderr.join(""),
          ...(result.error ? { error: result.error } : {}),
        },
        isError: !result.isSuccess,
      };
    },
  );

  server.registerResource(
    "session-file",
    new ResourceTemplate(`${FILE_URI_PREFIX}{session_id}/files/{name}`, {
      list: async () => {
        const resources = [];
        for (const session of sessions.values()) {
          const executor = await session.executor().catch(() => undefined);
          for (const file of (await executor?.listFiles().catch(() => [])) ?? []) {
            resources.push({ uri: sessionFileUri(session.id, file.name), name: file.name, mimeType: mimeTypeOf(file.name), size: file.size });
          }
        }
        return { resources };
      },
    }),
    { title: "Files of a TaskWeaver session", description: "The files in a session's working directory: uploads, outputs, figures." },
    async (uri, variables) => {
      const sessionId = decodeURIComponent(String(variables.session_id));
      const name = decodeURIComponent(String(variables.name));
      const executor = await find(sessionId).executor();
      const data = await executor.downloadFile(name);
      const mimeType = mimeTypeOf(name);
      return {
        contents: [
          isText(mimeType)
            ? { uri: uri.href, mimeType, text: Buffer.from(data).toString("utf8") }
            : { uri: uri.href, mimeType, blob: Buffer.from(data).toString("base64") },
        ],
      };
    },
  );

  return {
    server,
    async close() {
      if (closed) return;
      closed = true;
      await server.close().catch(() => undefined);
      await Promise.all([...sessions.values()].map((session) => session.stop().catch(() => undefined)));
      sessions.clear();
    },
  };
}
