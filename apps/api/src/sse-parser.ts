/** One server-sent event as parsed from a stream. */
export interface ServerSentEvent {
  id: string | undefined;
  event: string | undefined;
  data: string;
}

/**
 * Parses a `text/event-stream` body into events (for clients and tests). Comment lines are
 * skipped; an incomplete last block is parsed as it is, so pass whole blocks when streaming.
 */
export function parseServerSentEvents(text: string): ServerSentEvent[] {
  const events: ServerSentEvent[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    if (!block.trim()) continue;
    const event: ServerSentEvent = { id: undefined, event: undefined, data: "" };
    const data: string[] = [];
    let hasField = false;
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(":")) continue;
      const index = line.indexOf(":");
      const field = index < 0 ? line : line.slice(0, index);
      const value = index < 0 ? "" : line.slice(index + 1).replace(/^ /, "");
      hasField = true;
      if (field === "id") event.id = value;
      else if (field === "event") event.event = value;
      else if (field === "data") data.push(value);
    }
    event.data = data.join("\n");
    if (hasField) events.push(event);
  }
  return events;
}
