import { isAbsolute, join } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * An OSC 8 terminal hyperlink: terminals that support it make `text` clickable; others show
 * `text` alone.
 */
export function hyperlink(url: string, text: string): string {
  return `\u001B]8;;${url}\u0007${text}\u001B]8;;\u0007`;
}

/** The `file://` URL of an artifact: its path is relative to the session's working directory. */
export function artifactUrl(path: string, workingDirectory: string | undefined): string {
  const absolute = isAbsolute(path) || workingDirectory === undefined ? path : join(workingDirectory, path);
  return pathToFileURL(absolute).href;
}
