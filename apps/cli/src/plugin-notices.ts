import { describePluginStatus, type PluginStatus } from "@taskweaver/core";
import type { ChatSession } from "./app-types.js";

/**
 * Reports each plugin that could not be loaded into the session's kernel once, as one line
 * (name, reason, file, what to do). A later kernel that fails the same way says nothing new;
 * one that fails differently is reported again. Returns the function that stops watching.
 */
export function watchPluginProblems(session: ChatSession, report: (line: string) => void): () => void {
  const reported = new Set<string>();
  const check = (statuses: readonly PluginStatus[]) => {
    for (const status of statuses) {
      if (status.loaded) continue;
      const key = `${status.name}\n${status.error ?? ""}`;
      if (reported.has(key)) continue;
      reported.add(key);
      report(describePluginStatus(status));
    }
  };
  const unsubscribe = session.subscribe?.((event) => {
    if (event.type === "plugin-status") check(event.plugins);
  });
  // The kernel may have loaded its plugins before we subscribed.
  check(session.plugins ?? []);
  return () => unsubscribe?.();
}

/** Lines for `/info`: each plugin and whether it is usable in this session's kernel. */
export function describePluginsForInfo(statuses: readonly PluginStatus[] | undefined): string[] {
  if (!statuses || statuses.length === 0) return [];
  return statuses.map((status) =>
    status.loaded ? `  ${status.name}: loaded` : `  ${status.name}: not loaded (${status.error ?? "unknown error"})`,
  );
}
