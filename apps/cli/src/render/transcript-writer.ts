import { formatUsageSummary, type TaskWeaverEvent } from "@taskweaver/core";
import { applyEvent, createRoundView, type PostView, type RoundView } from "./conversation.js";
import { renderPostText, renderRoundError, renderUsageLine } from "./text.js";

/** Options of {@link createTranscriptWriter}. */
export interface TranscriptWriterOptions {
  /** Receives text as soon as it is certain; called many times per post. */
  write: (text: string) => void;
}

/** Turns the event stream of rounds into the classic console text, streaming. */
export interface TranscriptWriter {
  handle(event: TaskWeaverEvent): void;
  /** The view of the current (or last) round. */
  readonly round: RoundView | undefined;
  /** True once the current round's error line was written. */
  readonly errorShown: boolean;
}

/**
 * Writes each post's text while it streams. Only the part of a post that can no longer change
 * is written (see `renderPostText`), so the text on screen at the end is the same as a
 * rendering of the finished round.
 */
export function createTranscriptWriter(options: TranscriptWriterOptions): TranscriptWriter {
  let round: RoundView | undefined;
  /** What was written for each post so far. */
  const written = new Map<string, string>();
  let atLineStart = true;
  let errorShown = false;

  const write = (text: string) => {
    if (text === "") return;
    options.write(text);
    atLineStart = text.endsWith("\n");
  };

  const flushPost = (post: PostView) => {
    const before = written.get(post.id) ?? "";
    const now = renderPostText(post);
    if (now.startsWith(before)) {
      write(now.slice(before.length));
    } else {
      // The finished post differs from what streamed (blocks reordered by the role): show the
      // finished blocks that were not already shown, rather than hide them.
      if (!atLineStart) write("\n");
      const missing = now
        .split(/(?=^>>> \[)/m)
        .filter((part) => !before.includes(part))
        .join("");
      write(missing);
    }
    written.set(post.id, now);
  };

  /** The round's end line: what it used. */
  const writeUsage = (usage: Parameters<typeof formatUsageSummary>[0] | undefined) => {
    if (!usage) return;
    if (!atLineStart) write("\n");
    write(renderUsageLine(formatUsageSummary(usage)));
  };

  return {
    get round() {
      return round;
    },
    get errorShown() {
      return errorShown;
    },
    handle(event) {
      // Plugin problems are not part of the round's blocks; the CLI reports them on stderr.
      if (event.type === "plugin-status") return;
      if (event.type === "round-start") {
        round = createRoundView(event.roundId, event.userQuery);
        written.clear();
        errorShown = false;
        return;
      }
      if (!round) round = createRoundView(event.roundId, "");
      const previous = round;
      round = applyEvent(round, event);
      if (round === previous) return;
      switch (event.type) {
        // The usage line comes before a failed round's error line, so the error stays the
        // round's last word.
        case "round-end":
          writeUsage(event.usage);
          // A failed round normally comes with a round-error; say something if it did not.
          if (event.round.state === "failed" && !errorShown) {
            if (!atLineStart) write("\n");
            write(renderRoundError("The round failed."));
            errorShown = true;
          }
          return;
        case "round-error":
          writeUsage(event.usage);
          if (errorShown) return;
          if (!atLineStart) write("\n");
          write(renderRoundError(event.error.message));
          errorShown = true;
          return;
        default: {
          const postId = event.type === "post-end" ? event.post.id : event.postId;
          const post = round.posts.find((candidate) => candidate.id === postId);
          if (post) flushPost(post);
        }
      }
    },
  };
}
