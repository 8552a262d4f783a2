// The playground: the session list, the selected session's chat, the key prompt.
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import {
  ApiRequestError,
  createSession,
  deleteSession,
  getSession,
  listSessions,
  readApiKey,
  storeApiKey,
  type SessionSummary,
} from "./api-client.js";
import { ChatPane, Composer, dropHandlers } from "./chat-pane.js";
import { messagesFromRounds } from "./history.js";
import { createSessionChat, type SessionChat } from "./session-chat.js";

/** The selected session is in the fragment, so a reload reopens it (and follows its round). */
function sessionFromLocation(): string | undefined {
  const id = decodeURIComponent(location.hash.replace(/^#/, ""));
  return id === "" ? undefined : id;
}

function KeyPrompt({ problem, onKey }: { problem: ApiRequestError; onKey: (key: string) => void }) {
  const [key, setKey] = useState("");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (key.trim() !== "") onKey(key.trim());
  };
  return (
    <form className="key-prompt" onSubmit={submit}>
      <h2>API key</h2>
      <p role="alert">{problem.message}</p>
      <label>
        API key
        <input
          type="password"
          autoComplete="off"
          value={key}
          onChange={(event) => setKey(event.target.value)}
        />
      </label>
      <button type="submit">Use key</button>
      <p className="muted">The key is kept in this tab only (session storage) and sent as a bearer token.</p>
    </form>
  );
}

function describeSession(session: SessionSummary): string {
  const created = new Date(session.created_at);
  const time = Number.isNaN(created.getTime()) ? session.created_at : created.toLocaleString();
  return `${time} · ${session.id.slice(0, 8)}`;
}

export function App() {
  const [sessions, setSessions] = useState<SessionSummary[]>([]);
  const [selected, setSelected] = useState<{ entry: SessionChat; resume: boolean }>();
  const [problem, setProblem] = useState<ApiRequestError>();
  const [notice, setNotice] = useState<string>();
  const [files, setFiles] = useState<File[]>([]);
  const chats = useRef(new Map<string, SessionChat>());

  const report = useCallback((error: unknown) => {
    if (ApiRequestError.isInstance(error) && (error.kind === "key-required" || error.kind === "key-rejected"))
      setProblem(error);
    else setNotice(error instanceof Error ? error.message : String(error));
  }, []);

  const open = useCallback(
    async (id: string) => {
      setNotice(undefined);
      try {
        let entry = chats.current.get(id);
        let resume = false;
        if (!entry) {
          const detail = await getSession(id);
          entry = createSessionChat(id, messagesFromRounds(id, detail.rounds));
          chats.current.set(id, entry);
          resume = detail.state === "running";
        }
        setSelected({ entry, resume });
        history.replaceState(null, "", `#${encodeURIComponent(id)}`);
      } catch (error) {
        if (ApiRequestError.isInstance(error) && error.status === 404) {
          history.replaceState(null, "", location.pathname);
          setSelected(undefined);
        } else report(error);
      }
    },
    [report],
  );

  const refresh = useCallback(async () => {
    try {
      const { sessions: listed } = await listSessions();
      setProblem(undefined);
      setNotice(undefined);
      setSessions(listed.toReversed());
      return true;
    } catch (error) {
      report(error);
      return false;
    }
  }, [report]);

  useEffect(() => {
    void refresh().then((ok) => {
      const id = sessionFromLocation();
      if (ok && id) void open(id);
    });
  }, [refresh, open]);

  const newSession = async (first?: SessionChat["pending"]): Promise<SessionChat | undefined> => {
    try {
      const session = await createSession();
      const entry = createSessionChat(session.id, []);
      if (first) entry.pending = first;
      chats.current.set(session.id, entry);
      setSessions((current) => [session, ...current.filter((item) => item.id !== session.id)]);
      setSelected({ entry, resume: false });
      history.replaceState(null, "", `#${encodeURIComponent(session.id)}`);
      return entry;
    } catch (error) {
      report(error);
      return undefined;
    }
  };

  const remove = async (session: SessionSummary) => {
    try {
      await deleteSession(session.id);
      chats.current.delete(session.id);
      setSessions((current) => current.filter((item) => item.id !== session.id));
      if (selected?.entry.sessionId === session.id) {
        setSelected(undefined);
        history.replaceState(null, "", location.pathname);
      }
    } catch (error) {
      report(error);
    }
  };

  const onKey = (key: string) => {
    storeApiKey(key);
    chats.current.clear();
    setSelected(undefined);
    void refresh().then((ok) => {
      const id = sessionFromLocation();
      if (ok && id) void open(id);
    });
  };

  const onKeyProblem = useCallback((error: ApiRequestError) => setProblem(error), []);

  return (
    <div className="layout">
      <nav className="sidebar" aria-label="Sessions">
        <h1>TaskWeaver</h1>
        <button type="button" className="new-session" onClick={() => void newSession()}>
          New session
        </button>
        <ul className="session-list">
          {sessions.map((session) => (
            <li key={session.id} className={selected?.entry.sessionId === session.id ? "current" : undefined}>
              <button
                type="button"
                className="session-name"
                aria-current={selected?.entry.sessionId === session.id ? "true" : undefined}
                onClick={() => void open(session.id)}
              >
                {describeSession(session)}
              </button>
              <button
                type="button"
                className="delete"
                aria-label={`Delete session ${session.id.slice(0, 8)}`}
                onClick={() => void remove(session)}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
        <p className="muted small">
          <a href="/api/v1/docs">API reference</a>
          {readApiKey() && (
            <>
              {" · "}
              <button
                type="button"
                className="link"
                onClick={() => {
                  storeApiKey(undefined);
                  location.reload();
                }}
              >
                Forget key
              </button>
            </>
          )}
        </p>
      </nav>
      {problem ? (
        <main className="pane">
          <KeyPrompt problem={problem} onKey={onKey} />
        </main>
      ) : selected ? (
        <ChatPane
          key={selected.entry.sessionId}
          entry={selected.entry}
          resume={selected.resume}
          files={files}
          onFilesChange={setFiles}
          onKeyProblem={onKeyProblem}
        />
      ) : (
        <main className="pane" {...dropHandlers(files, setFiles)}>
          <div className="messages">
            {notice ? (
              <div className="error-banner" role="alert">
                {notice}{" "}
                <button type="button" onClick={() => void refresh()}>
                  Retry
                </button>
              </div>
            ) : (
              <p className="muted empty">
                Start a new session, pick one on the left, or just send a message.
              </p>
            )}
          </div>
          <div className="status-line" role="status" />
          <Composer
            busy={false}
            files={files}
            onFilesChange={setFiles}
            onStop={() => undefined}
            onSend={async (text) => {
              // The new session's pane sends it (with the attached files) when it opens.
              return (await newSession({ text, files })) !== undefined;
            }}
          />
        </main>
      )}
      {notice && selected && (
        <div className="toast" role="alert">
          {notice}
          <button type="button" aria-label="Dismiss" onClick={() => setNotice(undefined)}>
            ×
          </button>
        </div>
      )}
    </div>
  );
}
