import type { Artifact, AttachmentType, TaskWeaverEvent } from "@taskweaver/core";
import type { UIMessageChunk } from "ai";
import { contentTypeFor } from "../files.js";

/** The data parts the stream carries: `data-status`, the role's current activity (transient). */
export type TaskWeaverDataParts = {
  status: { role: string; status: string };
};

/** One chunk of the AI SDK's UI message stream, with TaskWeaver's data parts. */
export type TaskWeaverUiMessageChunk = UIMessageChunk<unknown, TaskWeaverDataParts>;

/** The tool name of code executions in the stream (parts of type `tool-python`). */
export const PYTHON_TOOL_NAME = "python";

/** Options of {@link createUiMessageChunkMapper}. */
export interface UiMessageChunkMapperOptions {
  /** The URL a client downloads a working-directory file from (the API's file route). */
  fileUrl: (path: string) => string;
  /** The alias whose posts are the answer to the user. @default "User" */
  userAlias?: string;
}

/** Turns the core's events, in order, into UI message stream chunks. Stateful: one per round. */
export interface UiMessageChunkMapper {
  /** The chunks for one event (often none, sometimes several). */
  map(event: TaskWeaverEvent): TaskWeaverUiMessageChunk[];
  /**
   * Ends the stream while the round waits for approval, the way the AI SDK ends a step whose
   * tool call needs approval: what is open is closed, then `finish-step` and `finish`. The
   * client answers with `addToolApprovalResponse` and sends the chat again.
   */
  suspend(): TaskWeaverUiMessageChunk[];
  /** Begins the stream that continues the round after an approval answer (the same message and step). */
  resume(): TaskWeaverUiMessageChunk[];
}

/** Attachments shown as reasoning: the Planner's plan and every role's thoughts. */
const REASONING_ATTACHMENTS: ReadonlySet<AttachmentType> = new Set<AttachmentType>([
  "plan_reasoning",
  "init_plan",
  "plan",
  "current_plan_step",
  "thought",
]);

interface ToolCall {
  id: string;
  /** `tool-input-available` was sent: only then does an output belong to it. */
  inputAvailable: boolean;
  /** What was streamed of the code, for a `tool-input-error` if the answer is dropped. */
  streamedCode: string;
  /** Printed output so far, sent as preliminary output while the code runs. */
  output: string;
  settled: boolean;
}

interface PostState {
  role: string;
  recipient: string | undefined;
  /** Message text that arrived before the recipient was known. */
  pendingText: string;
  textOpen: boolean;
  textSent: boolean;
  replyType: string;
  /** `reply_content` pieces that arrived before the reply type said whether it is code. */
  pendingContent: string;
  executionStatus: string | undefined;
  tool: ToolCall | undefined;
  openReasoning: Set<string>;
}

/**
 * Maps TaskWeaver's event union to the AI SDK's UI message chunks: the answer to the user as
 * text, plans and thoughts as reasoning, each code execution as a `python` tool call, artifacts
 * as file parts, statuses as transient data parts; every role turn is one step.
 */
export function createUiMessageChunkMapper(options: UiMessageChunkMapperOptions): UiMessageChunkMapper {
  const userAlias = options.userAlias ?? "User";
  const posts = new Map<string, PostState>();
  let roundId: string | undefined;

  const postState = (postId: string, role = "unknown"): PostState => {
    let state = posts.get(postId);
    if (!state) {
      state = {
        role,
        recipient: undefined,
        pendingText: "",
        textOpen: false,
        textSent: false,
        replyType: "",
        pendingContent: "",
        executionStatus: undefined,
        tool: undefined,
        openReasoning: new Set(),
      };
      posts.set(postId, state);
    }
    return state;
  };

  const text = (postId: string, state: PostState, delta: string): TaskWeaverUiMessageChunk[] => {
    const chunks: TaskWeaverUiMessageChunk[] = [];
    if (!state.textOpen) {
      state.textOpen = true;
      state.textSent = true;
      chunks.push({ type: "text-start", id: postId });
    }
    if (delta !== "") chunks.push({ type: "text-delta", id: postId, delta });
    return chunks;
  };

  const reasoningMetadata = (type: AttachmentType, role: string) => ({
    taskweaver: { attachmentType: type, role },
  });

  const startTool = (state: PostState, id: string): TaskWeaverUiMessageChunk[] => {
    state.tool = { id, inputAvailable: false, streamedCode: "", output: "", settled: false };
    // The input streams as the JSON text of `{code}`, so a reader sees the partial code as `input.code`.
    return [
      { type: "tool-input-start", toolCallId: id, toolName: PYTHON_TOOL_NAME },
      { type: "tool-input-delta", toolCallId: id, inputTextDelta: '{"code":"' },
    ];
  };

  const codeDelta = (tool: ToolCall, delta: string): TaskWeaverUiMessageChunk[] => {
    tool.streamedCode += delta;
    return [
      { type: "tool-input-delta", toolCallId: tool.id, inputTextDelta: JSON.stringify(delta).slice(1, -1) },
    ];
  };

  /** Closes what a post left open; a dropped code answer becomes a tool input error. */
  const closePost = (postId: string, state: PostState): TaskWeaverUiMessageChunk[] => {
    const chunks: TaskWeaverUiMessageChunk[] = [];
    if (state.textOpen) {
      state.textOpen = false;
      chunks.push({ type: "text-end", id: postId });
    }
    for (const id of state.openReasoning) chunks.push({ type: "reasoning-end", id });
    state.openReasoning.clear();
    const tool = state.tool;
    if (tool && !tool.inputAvailable && !tool.settled) {
      tool.settled = true;
      chunks.push({
        type: "tool-input-error",
        toolCallId: tool.id,
        toolName: PYTHON_TOOL_NAME,
        input: { code: tool.streamedCode },
        errorText: "The model's answer could not be used, so this code was not run.",
      });
    } else if (tool && tool.inputAvailable && !tool.settled) {
      tool.settled = true;
      chunks.push({ type: "tool-output-error", toolCallId: tool.id, errorText: "The code did not finish." });
    }
    return chunks;
  };

  /** The code waiting for approval as the post's tool call, sent whole when it was not streamed. */
  const approvalRequest = (
    event: Extract<TaskWeaverEvent, { type: "execution-approval-request" }>,
  ): TaskWeaverUiMessageChunk[] => {
    const state = postState(event.postId);
    const chunks: TaskWeaverUiMessageChunk[] = [];
    if (!state.tool) chunks.push(...startTool(state, event.approvalId));
    const tool = state.tool!;
    if (!tool.inputAvailable) {
      tool.inputAvailable = true;
      chunks.push({ type: "tool-input-available", toolCallId: tool.id, toolName: PYTHON_TOOL_NAME, input: { code: event.code } });
    }
    chunks.push({ type: "tool-approval-request", approvalId: event.approvalId, toolCallId: tool.id });
    return chunks;
  };

  const approvalResult = (
    event: Extract<TaskWeaverEvent, { type: "execution-approval-result" }>,
  ): TaskWeaverUiMessageChunk[] => {
    const tool = posts.get(event.postId)?.tool;
    if (!tool?.inputAvailable || tool.settled) return [];
    switch (event.decision) {
      case "rejected":
        tool.settled = true;
        return [{ type: "tool-output-denied", toolCallId: tool.id }];
      case "timed_out":
        tool.settled = true;
        return [{ type: "tool-output-error", toolCallId: tool.id, errorText: `Not run: ${event.reason ?? "no answer came in time"}.` }];
      case "edited":
        // What ran is the edited code: the call's input becomes it.
        return [
          {
            type: "tool-input-available",
            toolCallId: tool.id,
            toolName: PYTHON_TOOL_NAME,
            input: { code: event.code ?? tool.streamedCode },
          },
        ];
      default:
        return [];
    }
  };

  const closeAll = (): TaskWeaverUiMessageChunk[] => {
    const chunks: TaskWeaverUiMessageChunk[] = [];
    for (const [postId, state] of posts) chunks.push(...closePost(postId, state));
    posts.clear();
    return chunks;
  };

  const attachment = (
    event: Extract<TaskWeaverEvent, { type: "attachment-delta" }>,
  ): TaskWeaverUiMessageChunk[] => {
    const state = postState(event.postId);
    const type = event.attachmentType;
    const id = event.attachmentId;
    if (REASONING_ATTACHMENTS.has(type)) {
      const chunks: TaskWeaverUiMessageChunk[] = [];
      const open = state.openReasoning.has(id);
      if (!event.done) {
        if (!open) {
          state.openReasoning.add(id);
          chunks.push({ type: "reasoning-start", id, providerMetadata: reasoningMetadata(type, state.role) });
        }
        chunks.push({ type: "reasoning-delta", id, delta: event.delta });
        return chunks;
      }
      if (open) {
        state.openReasoning.delete(id);
        return [{ type: "reasoning-end", id }];
      }
      const content = event.attachment?.content ?? "";
      if (content === "") return [];
      return [
        { type: "reasoning-start", id, providerMetadata: reasoningMetadata(type, state.role) },
        { type: "reasoning-delta", id, delta: content },
        { type: "reasoning-end", id },
      ];
    }
    switch (type) {
      case "reply_type":
        if (event.done) state.replyType = event.attachment?.content ?? state.replyType;
        else state.replyType += event.delta;
        return [];
      case "reply_content":
        return replyContent(state, event);
      case "code_error": {
        const tool = state.tool;
        if (!event.done || !tool?.inputAvailable || tool.settled) return [];
        tool.settled = true;
        return [
          {
            type: "tool-output-error",
            toolCallId: tool.id,
            errorText: `The code was not run because it breaks these rules:\n${event.attachment?.content ?? ""}`,
          },
        ];
      }
      case "execution_status":
        if (event.done) state.executionStatus = event.attachment?.content;
        return [];
      case "execution_result": {
        const tool = state.tool;
        if (!event.done || !tool?.inputAvailable || tool.settled) return [];
        tool.settled = true;
        const content = event.attachment?.content ?? "";
        return [
          state.executionStatus === "SUCCESS"
            ? { type: "tool-output-available", toolCallId: tool.id, output: content }
            : { type: "tool-output-error", toolCallId: tool.id, errorText: content },
          ...htmlDisplayFiles(event.attachment?.extra),
        ];
      }
      case "artifact_paths":
        return event.done ? artifactFiles(event.attachment?.content ?? "[]", event.attachment?.extra) : [];
      default:
        return [];
    }
  };

  const replyContent = (
    state: PostState,
    event: Extract<TaskWeaverEvent, { type: "attachment-delta" }>,
  ): TaskWeaverUiMessageChunk[] => {
    const chunks: TaskWeaverUiMessageChunk[] = [];
    const isCode = state.replyType.trim() === PYTHON_TOOL_NAME;
    if (!event.done) {
      if (!isCode) {
        // The reply type usually comes first; until it says "python", the pieces wait.
        state.pendingContent += event.delta;
        return [];
      }
      if (!state.tool) chunks.push(...startTool(state, event.attachmentId));
      if (state.pendingContent !== "") {
        chunks.push(...codeDelta(state.tool!, state.pendingContent));
        state.pendingContent = "";
      }
      chunks.push(...codeDelta(state.tool!, event.delta));
      return chunks;
    }
    const content = event.attachment?.content ?? state.pendingContent;
    state.pendingContent = "";
    if (!isCode) {
      // A worker's text reply goes to the Planner, not the user: it is part of the reasoning.
      if (content === "") return [];
      const id = event.attachmentId;
      return [
        { type: "reasoning-start", id, providerMetadata: reasoningMetadata("reply_content", state.role) },
        { type: "reasoning-delta", id, delta: content },
        { type: "reasoning-end", id },
      ];
    }
    if (!state.tool) chunks.push(...startTool(state, event.attachmentId));
    const tool = state.tool!;
    tool.inputAvailable = true;
    chunks.push({
      type: "tool-input-available",
      toolCallId: tool.id,
      toolName: PYTHON_TOOL_NAME,
      input: { code: content },
    });
    return chunks;
  };

  // A DataFrame shown as the last expression comes as rich HTML with the result; it goes out as
  // an HTML file part (a data URL), which a frontend may draw as a table after sanitizing it.
  const htmlDisplayFiles = (extra: unknown): TaskWeaverUiMessageChunk[] => {
    const html = (extra as { html?: unknown } | undefined)?.html;
    if (!Array.isArray(html)) return [];
    return html
      .filter((text): text is string => typeof text === "string")
      .map((text) => ({
        type: "file",
        url: `data:text/html;base64,${Buffer.from(text, "utf8").toString("base64")}`,
        mediaType: "text/html",
      }));
  };

  const artifactFiles = (content: string, extra: unknown): TaskWeaverUiMessageChunk[] => {
    const artifacts = (extra as { artifacts?: Artifact[] } | undefined)?.artifacts;
    const files: { path: string; mediaType: string }[] = Array.isArray(artifacts)
      ? artifacts.map((artifact) => ({
          path: artifact.path,
          mediaType: artifact.mimeType || contentTypeFor(artifact.path),
        }))
      : parsePaths(content).map((path) => ({ path, mediaType: contentTypeFor(path) }));
    return files.map((file) => ({
      type: "file",
      url: options.fileUrl(file.path),
      mediaType: file.mediaType,
    }));
  };

  return {
    suspend() {
      const chunks: TaskWeaverUiMessageChunk[] = [];
      for (const [postId, state] of posts) {
        if (state.textOpen) {
          state.textOpen = false;
          chunks.push({ type: "text-end", id: postId });
        }
        for (const id of state.openReasoning) chunks.push({ type: "reasoning-end", id });
        state.openReasoning.clear();
      }
      chunks.push({ type: "finish-step" }, { type: "finish", finishReason: "tool-calls" });
      return chunks;
    },
    resume() {
      // No `start-step`: the rest of the post belongs to the step of its tool call, where the
      // AI SDK's reader finds the call to update (its input when edited, its output).
      return [{ type: "start", ...(roundId ? { messageId: roundId } : {}) }];
    },
    map(event) {
      switch (event.type) {
        case "round-start":
          posts.clear();
          roundId = event.roundId;
          return [{ type: "start", messageId: event.roundId }];
        case "post-start":
          postState(event.postId, event.role);
          return [{ type: "start-step" }];
        case "post-status":
          return [{ type: "data-status", data: { role: event.role, status: event.status }, transient: true }];
        case "post-recipient": {
          const state = postState(event.postId);
          state.recipient = event.sendTo;
          if (event.sendTo !== userAlias || state.pendingText === "") return [];
          const pending = state.pendingText;
          state.pendingText = "";
          return text(event.postId, state, pending);
        }
        case "post-delta": {
          const state = postState(event.postId);
          if (state.recipient === userAlias) return text(event.postId, state, event.delta);
          state.pendingText += event.delta;
          return [];
        }
        case "attachment-delta":
          return attachment(event);
        case "execution-approval-request":
          return approvalRequest(event);
        case "execution-approval-result":
          return approvalResult(event);
        case "execution-output": {
          const tool = postState(event.postId).tool;
          if (!tool?.inputAvailable || tool.settled) return [];
          tool.output += event.text;
          return [
            { type: "tool-output-available", toolCallId: tool.id, output: tool.output, preliminary: true },
          ];
        }
        case "post-end": {
          const postId = event.post.id;
          const state = postState(postId);
          const chunks: TaskWeaverUiMessageChunk[] = [];
          // A message set whole at the end (not streamed) to the user is sent here.
          if (event.post.send_to === userAlias && !state.textSent && event.post.message !== "") {
            chunks.push(...text(postId, state, event.post.message));
          }
          chunks.push(...closePost(postId, state), { type: "finish-step" });
          posts.delete(postId);
          return chunks;
        }
        case "round-end":
          return [...closeAll(), { type: "finish", finishReason: "stop" }];
        case "round-error":
          if (event.error.code === "aborted")
            return [...closeAll(), { type: "abort", reason: event.error.message }];
          return [
            ...closeAll(),
            { type: "error", errorText: event.error.message },
            { type: "finish", finishReason: "error" },
          ];
        default:
          return [];
      }
    },
  };
}

function parsePaths(content: string): string[] {
  try {
    const parsed: unknown = JSON.parse(content);
    return Array.isArray(parsed) ? parsed.filter((item): item is string => typeof item === "string") : [];
  } catch {
    return [];
  }
}
