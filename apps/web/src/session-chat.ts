// One `Chat` (the AI SDK's chat state) per session, over the session's chat route.
import { Chat } from "@ai-sdk/react";
import { DefaultChatTransport, lastAssistantMessageIsCompleteWithApprovalResponses } from "ai";
import { apiFetch, sessionPath } from "./api-client.js";
import type { PlaygroundDataParts, PlaygroundMessage } from "./history.js";

/** A session's chat and the status line its stream reports. */
export interface SessionChat {
  sessionId: string;
  chat: Chat<PlaygroundMessage>;
  /** Told each `data-status` part (they are transient: not kept in the messages). */
  onStatus: Set<(status: PlaygroundDataParts["status"] | undefined) => void>;
  /** A message typed before the session existed: its pane sends it when it opens. */
  pending?: { text: string; files: File[] };
}

export function createSessionChat(sessionId: string, messages: PlaygroundMessage[]): SessionChat {
  const onStatus: SessionChat["onStatus"] = new Set();
  const chat = new Chat<PlaygroundMessage>({
    id: sessionId,
    messages,
    transport: new DefaultChatTransport<PlaygroundMessage>({
      api: `/api/v1${sessionPath(sessionId)}/chat`,
      // The key, and failures as sentences (useChat shows what the fetch throws as its error).
      fetch: apiFetch as typeof fetch,
      // Earlier rounds are in the session already: send the new message (and what follows it,
      // an answered approval) only, so that files are not uploaded again with every message.
      prepareSendMessagesRequest: ({ id, messages: all, trigger, messageId }) => {
        const lastUser = all.findLastIndex((message) => message.role === "user");
        return { body: { id, messages: all.slice(Math.max(0, lastUser)), trigger, messageId } };
      },
    }),
    onData: (part) => {
      if (part.type === "data-status") for (const listener of onStatus) listener(part.data);
    },
    onFinish: () => {
      for (const listener of onStatus) listener(undefined);
    },
    sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses,
  });
  return { sessionId, chat, onStatus };
}
