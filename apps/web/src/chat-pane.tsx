// The selected session's messages, status line and composer.
import { useChat } from "@ai-sdk/react";
import type { FileUIPart } from "ai";
import { useEffect, useRef, useState, type DragEvent, type FormEvent, type KeyboardEvent } from "react";
import {
  ApiRequestError,
  decideApproval,
  fileUrl,
  interruptRound,
  listFiles,
  type SessionFile,
} from "./api-client.js";
import type { PlaygroundDataParts, PlaygroundMessage } from "./history.js";
import { MessageView, type ApprovalActions } from "./message-view.js";
import type { SessionChat } from "./session-chat.js";

/** Reads picked or dropped files as the data-URL file parts the chat route accepts. */
export function toFileParts(files: readonly File[]): Promise<FileUIPart[]> {
  return Promise.all(
    files.map(
      (file) =>
        new Promise<FileUIPart>((resolve, reject) => {
          const reader = new FileReader();
          reader.onload = () =>
            resolve({
              type: "file",
              filename: file.name,
              mediaType: file.type || "application/octet-stream",
              url: String(reader.result),
            });
          reader.onerror = () => reject(reader.error ?? new Error(`Could not read ${file.name}.`));
          reader.readAsDataURL(file);
        }),
    ),
  );
}

/** The sentence for the chat's error: the API's failures as they are, a failed round as such. */
export function describeChatError(error: Error): string {
  if (ApiRequestError.isInstance(error)) return error.message;
  return `The round failed: ${error.message}`;
}

/** The composer: message box, attachments (picker and drop), Send and Stop. */
export function Composer({
  busy,
  onSend,
  onStop,
  files,
  onFilesChange,
}: {
  busy: boolean;
  onSend: (text: string) => Promise<boolean>;
  onStop: () => void;
  files: File[];
  onFilesChange: (files: File[]) => void;
}) {
  const [text, setText] = useState("");
  const submit = async (event?: FormEvent) => {
    event?.preventDefault();
    if (busy || text.trim() === "") return;
    const sent = await onSend(text);
    if (sent) setText("");
  };
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      void submit();
    }
  };
  return (
    <form className="composer" onSubmit={(event) => void submit(event)}>
      {files.length > 0 && (
        <ul className="attachments" aria-label="Attached files">
          {files.map((file, index) => (
            <li key={`${file.name}-${index}`} className="chip">
              {file.name}
              <button
                type="button"
                aria-label={`Remove ${file.name}`}
                onClick={() => onFilesChange(files.filter((_, other) => other !== index))}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="composer-row">
        <textarea
          aria-label="Message"
          placeholder="Ask TaskWeaver… (Enter sends, Shift+Enter is a new line; drop files to attach them)"
          value={text}
          onChange={(event) => setText(event.target.value)}
          onKeyDown={onKeyDown}
          rows={2}
        />
        <label className="attach">
          <span>Attach files</span>
          <input
            type="file"
            multiple
            aria-label="Attach files"
            onChange={(event) => {
              onFilesChange([...files, ...Array.from(event.target.files ?? [])]);
              event.target.value = "";
            }}
          />
        </label>
        {busy ? (
          <button type="button" className="stop" onClick={onStop}>
            Stop
          </button>
        ) : (
          <button type="submit" disabled={text.trim() === ""}>
            Send
          </button>
        )}
      </div>
    </form>
  );
}

/** Accepts files dropped anywhere on the pane. */
export function dropHandlers(files: File[], onFilesChange: (files: File[]) => void) {
  return {
    onDragOver: (event: DragEvent) => {
      if (event.dataTransfer.types.includes("Files")) event.preventDefault();
    },
    onDrop: (event: DragEvent) => {
      if (event.dataTransfer.files.length === 0) return;
      event.preventDefault();
      onFilesChange([...files, ...Array.from(event.dataTransfer.files)]);
    },
  };
}

function snapshot(files: readonly SessionFile[]): Map<string, string> {
  return new Map(files.map((file) => [file.name, file.modified_at]));
}

export function ChatPane({
  entry,
  resume,
  files,
  onFilesChange,
  onKeyProblem,
}: {
  entry: SessionChat;
  /** A round was running when the session was loaded: follow it. */
  resume: boolean;
  files: File[];
  onFilesChange: (files: File[]) => void;
  /** The API asked for a key, or refused the one given. */
  onKeyProblem: (error: ApiRequestError) => void;
}) {
  const { sessionId } = entry;
  const { messages, sendMessage, status, error, addToolApprovalResponse, resumeStream, clearError } =
    useChat<PlaygroundMessage>({ chat: entry.chat });
  const [statusLine, setStatusLine] = useState<PlaygroundDataParts["status"]>();
  const [stopped, setStopped] = useState(false);
  const [written, setWritten] = useState<Record<string, { url: string; name: string }[]>>({});
  const before = useRef<Map<string, string> | undefined>(undefined);
  const bottom = useRef<HTMLDivElement>(null);
  const busy = status === "submitted" || status === "streaming";

  useEffect(() => {
    const listener = (next: PlaygroundDataParts["status"] | undefined) => setStatusLine(next);
    entry.onStatus.add(listener);
    return () => {
      entry.onStatus.delete(listener);
    };
  }, [entry]);

  useEffect(() => {
    if (resume) void resumeStream();
    // Only when a session is opened, not on every change of the flag.
  }, [entry]);

  useEffect(() => {
    if (
      error &&
      ApiRequestError.isInstance(error) &&
      (error.kind === "key-required" || error.kind === "key-rejected")
    )
      onKeyProblem(error);
  }, [error, onKeyProblem]);

  useEffect(() => {
    bottom.current?.scrollIntoView?.({ block: "end" });
  }, [messages, written]);

  // When a round ends, files that appeared in the working directory and are not among the
  // round's file parts (written with open(), say) are listed as downloads.
  useEffect(() => {
    if (busy || !before.current) return;
    const previous = before.current;
    before.current = undefined;
    const last = messages.at(-1);
    if (!last || last.role !== "assistant") return;
    const shown = new Set(last.parts.flatMap((part) => (part.type === "file" ? [part.url] : [])));
    listFiles(sessionId)
      .then(({ files: now }) => {
        const fresh = now
          .filter((file) => previous.get(file.name) !== file.modified_at)
          .map((file) => ({ name: file.name, url: fileUrl(sessionId, file.name) }))
          .filter((file) => !shown.has(file.url));
        if (fresh.length > 0) setWritten((current) => ({ ...current, [last.id]: fresh }));
      })
      .catch(() => undefined);
  }, [busy, messages, sessionId]);

  const send = async (text: string, files: File[]): Promise<boolean> => {
    clearError();
    setStopped(false);
    let parts: FileUIPart[];
    try {
      parts = await toFileParts(files);
    } catch (caught) {
      alert(caught instanceof Error ? caught.message : String(caught));
      return false;
    }
    const uploading = new Set(files.map((file) => file.name));
    before.current = await listFiles(sessionId)
      .then(({ files: listed }) => snapshot(listed.filter((file) => !uploading.has(file.name))))
      .catch(() => new Map<string, string>());
    // Uploaded files are the user's, not the round's.
    for (const name of uploading) before.current.set(name, "uploaded");
    onFilesChange([]);
    void sendMessage({ text, files: parts });
    return true;
  };
  const onSend = (text: string) => send(text, files);

  useEffect(() => {
    const pending = entry.pending;
    if (!pending) return;
    entry.pending = undefined;
    void send(pending.text, pending.files);
    // Once, when the new session's pane opens.
  }, [entry]);

  const onStop = () => {
    setStopped(true);
    // The round stops on the server (the session stays); its stream then ends with `abort`.
    interruptRound(sessionId)
      .then(({ interrupted }) => {
        if (!interrupted) void entry.chat.stop();
      })
      .catch(() => void entry.chat.stop());
  };

  const approvals: ApprovalActions = {
    run: (approvalId) => void addToolApprovalResponse({ id: approvalId, approved: true }),
    reject: (approvalId, reason) =>
      void addToolApprovalResponse({ id: approvalId, approved: false, ...(reason ? { reason } : {}) }),
    runEdited: async (approvalId, code) => {
      // The edit is the answer (the approvals route takes code); the chat answer that follows
      // stands aside for it and streams the rest of the round.
      await decideApproval(sessionId, approvalId, { decision: "approve", code });
      await addToolApprovalResponse({ id: approvalId, approved: true });
    },
  };

  return (
    <main className="pane" {...dropHandlers(files, onFilesChange)}>
      <div className="messages" aria-live="polite">
        {messages.length === 0 && (
          <p className="muted empty">Ask for something, e.g. “generate 10 random numbers”.</p>
        )}
        {messages.map((message) => (
          <MessageView
            key={message.id}
            message={message}
            approvals={approvals}
            {...(written[message.id] ? { writtenFiles: written[message.id] } : {})}
          />
        ))}
        <div ref={bottom} />
      </div>
      <div className="status-line" role="status">
        {busy
          ? statusLine
            ? `${statusLine.role}: ${statusLine.status}`
            : status === "submitted"
              ? "Sending…"
              : "Working…"
          : stopped && !error
            ? "Stopped. The session is still here: send another message."
            : ""}
      </div>
      {error && (
        <p className="error-banner" role="alert">
          {describeChatError(error)}
        </p>
      )}
      <Composer busy={busy} onSend={onSend} onStop={onStop} files={files} onFilesChange={onFilesChange} />
    </main>
  );
}
