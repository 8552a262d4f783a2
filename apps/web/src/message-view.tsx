// One chat message, part by part: reasoning collapsible, code highlighted as it streams, results
// and tracebacks as preformatted text, files, the answer.
import { useMemo, useState } from "react";
import { FileView, fileName } from "./file-view.js";
import { highlightPython } from "./highlight.js";
import { mediaTypeFor, type PlaygroundMessage, type PlaygroundPart } from "./history.js";

/** What the page does with a code block waiting for approval. */
export interface ApprovalActions {
  run(approvalId: string): void;
  reject(approvalId: string, reason?: string): void;
  runEdited(approvalId: string, code: string): Promise<void>;
}

const REASONING_LABELS: Record<string, string> = {
  plan_reasoning: "Reasoning",
  init_plan: "Initial plan",
  plan: "Plan",
  current_plan_step: "Current step",
  thought: "Thought",
  reply_content: "Reply",
};

export function HighlightedCode({ code }: { code: string }) {
  const tokens = useMemo(() => highlightPython(code), [code]);
  return (
    <pre className="code">
      <code>
        {tokens.map((token, index) =>
          token.kind === "plain" ? (
            token.text
          ) : (
            <span key={index} className={`token-${token.kind}`}>
              {token.text}
            </span>
          ),
        )}
      </code>
    </pre>
  );
}

type ToolPart = Extract<PlaygroundPart, { type: "tool-python" }>;

function ApprovalButtons({ part, actions }: { part: ToolPart; actions: ApprovalActions }) {
  const approvalId = part.state === "approval-requested" ? part.approval.id : undefined;
  const [editing, setEditing] = useState(false);
  const [code, setCode] = useState(part.input?.code ?? "");
  const [error, setError] = useState<string>();
  if (!approvalId) return null;
  if (editing)
    return (
      <div className="approval">
        <label>
          Edited code
          <textarea
            value={code}
            onChange={(event) => setCode(event.target.value)}
            rows={Math.min(20, code.split("\n").length + 1)}
          />
        </label>
        <div className="approval-buttons">
          <button
            type="button"
            onClick={() => {
              setError(undefined);
              actions
                .runEdited(approvalId, code)
                .catch((caught: unknown) =>
                  setError(String(caught instanceof Error ? caught.message : caught)),
                );
            }}
          >
            Run edited code
          </button>
          <button type="button" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </div>
        {error && (
          <p className="error-text" role="alert">
            {error}
          </p>
        )}
      </div>
    );
  return (
    <div className="approval">
      <p>This code waits for your approval.</p>
      <div className="approval-buttons">
        <button type="button" onClick={() => actions.run(approvalId)}>
          Run
        </button>
        <button type="button" onClick={() => actions.reject(approvalId, "The user rejected the code.")}>
          Reject
        </button>
        <button type="button" onClick={() => setEditing(true)}>
          Edit
        </button>
      </div>
    </div>
  );
}

function ToolView({ part, approvals }: { part: ToolPart; approvals: ApprovalActions | undefined }) {
  const code = (part.input as { code?: unknown } | undefined)?.code;
  const state = part.state;
  const label =
    state === "input-streaming"
      ? "writing code"
      : state === "input-available"
        ? "running"
        : state === "approval-requested"
          ? "waiting for approval"
          : state === "output-available"
            ? part.preliminary
              ? "running"
              : "done"
            : state === "output-denied"
              ? "not run"
              : state === "output-error"
                ? "failed"
                : state;
  return (
    <section className={`tool tool-${state}`} aria-label="Python code">
      <header>
        <span>Python</span>
        <span className="tool-state">{label}</span>
      </header>
      <HighlightedCode code={typeof code === "string" ? code : ""} />
      {approvals && <ApprovalButtons part={part} actions={approvals} />}
      {state === "output-available" && (
        <pre className="result" aria-label="Result">
          {String(part.output)}
        </pre>
      )}
      {state === "output-error" && (
        <pre className="result error-text" aria-label="Error">
          {part.errorText}
        </pre>
      )}
      {state === "output-denied" && <p className="error-text">The code was rejected and did not run.</p>}
    </section>
  );
}

function PartView({ part, approvals }: { part: PlaygroundPart; approvals: ApprovalActions | undefined }) {
  switch (part.type) {
    case "text":
      return <div className="answer">{part.text}</div>;
    case "reasoning": {
      const meta = part.providerMetadata?.taskweaver as
        { attachmentType?: string; role?: string } | undefined;
      const label = REASONING_LABELS[meta?.attachmentType ?? ""] ?? "Thought";
      return (
        <details className="reasoning">
          <summary>
            {meta?.role ? `${meta.role}: ` : ""}
            {label}
          </summary>
          <div className="reasoning-text">{part.text}</div>
        </details>
      );
    }
    case "tool-python":
      return <ToolView part={part} approvals={approvals} />;
    case "file":
      return (
        <FileView
          url={part.url}
          mediaType={part.mediaType}
          {...(part.filename ? { filename: part.filename } : {})}
        />
      );
    case "data-round-error":
      return (
        <p className="error-text" role="alert">
          The round failed: {part.data.message}
        </p>
      );
    default:
      return null;
  }
}

export function MessageView({
  message,
  approvals,
  writtenFiles,
}: {
  message: PlaygroundMessage;
  approvals?: ApprovalActions;
  /** Files the round wrote that its stream did not carry (found in the working directory). */
  writtenFiles?: readonly { url: string; name: string }[];
}) {
  if (message.role === "user") {
    return (
      <article className="message user" aria-label="Your message">
        {message.parts.map((part, index) =>
          part.type === "text" ? (
            <div key={index}>{part.text}</div>
          ) : part.type === "file" ? (
            <span key={index} className="chip">
              {fileName(part.url, part.filename)}
            </span>
          ) : null,
        )}
      </article>
    );
  }
  // A call whose input changed in a later step (code edited at approval) appears there as a
  // new part of the same call id: only the latest is shown.
  const lastOfCall = new Map<string, number>();
  message.parts.forEach((part, index) => {
    if (part.type === "tool-python") lastOfCall.set(part.toolCallId, index);
  });
  return (
    <article className="message assistant" aria-label="TaskWeaver's answer">
      {message.parts.map((part, index) =>
        part.type === "tool-python" && lastOfCall.get(part.toolCallId) !== index ? null : (
          <PartView key={index} part={part} approvals={approvals} />
        ),
      )}
      {writtenFiles && writtenFiles.length > 0 && (
        <div className="written-files">
          Files written:{" "}
          {writtenFiles.map((file) => (
            <FileView
              key={file.url}
              url={file.url}
              mediaType={mediaTypeFor(file.name)}
              filename={file.name}
            />
          ))}
        </div>
      )}
    </article>
  );
}
