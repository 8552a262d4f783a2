// Files in messages: images inline, HTML (a DataFrame's table) sanitized inline, the rest as
// download links. With API keys the file route needs the bearer header, which an <img> or <a>
// cannot send, so such files are fetched with it and shown from blob URLs.
import DOMPurify from "dompurify";
import { useEffect, useState } from "react";
import { apiFetch, readApiKey } from "./api-client.js";

type Loaded = { url: string; error?: undefined } | { url?: undefined; error: string };

/** Whether a URL is our own API's (and so may need the key). */
function needsKey(url: string): boolean {
  return url.startsWith("/api/") && readApiKey() !== undefined;
}

/** A URL the browser can load: the file's own, or a blob URL of it fetched with the key. */
export function useLoadableUrl(url: string): Loaded | undefined {
  const direct = !needsKey(url);
  const [loaded, setLoaded] = useState<Loaded | undefined>(direct ? { url } : undefined);
  useEffect(() => {
    if (direct) {
      setLoaded({ url });
      return;
    }
    let objectUrl: string | undefined;
    let cancelled = false;
    apiFetch(url)
      .then((response) => response.blob())
      .then((blob) => {
        if (cancelled) return;
        objectUrl = URL.createObjectURL(blob);
        setLoaded({ url: objectUrl });
      })
      .catch((error: unknown) => {
        if (!cancelled) setLoaded({ error: error instanceof Error ? error.message : String(error) });
      });
    return () => {
      cancelled = true;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [url, direct]);
  return loaded;
}

export function fileName(url: string, filename?: string): string {
  if (filename) return filename;
  if (url.startsWith("data:text/html")) return "table";
  if (url.startsWith("data:")) return "file";
  const last = url.split("?")[0]!.split("/").at(-1) ?? "file";
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

function decodeDataUrl(url: string): string {
  const comma = url.indexOf(",");
  const header = url.slice(0, comma);
  const body = url.slice(comma + 1);
  if (!header.endsWith(";base64")) return decodeURIComponent(body);
  const binary = atob(body);
  return new TextDecoder().decode(Uint8Array.from(binary, (character) => character.charCodeAt(0)));
}

function HtmlFile({ url, name }: { url: string; name: string }) {
  const [html, setHtml] = useState<string>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    let cancelled = false;
    // A table shown by the code comes inline as a data URL, which the page's policy does not
    // let fetch() load; it is decoded here instead.
    const text = url.startsWith("data:")
      ? Promise.resolve(decodeDataUrl(url))
      : apiFetch(url).then((response) => response.text());
    text
      .then((text) => {
        // Scripts, handlers, forms and styles go: only the table and its text stay.
        const clean = DOMPurify.sanitize(text, {
          USE_PROFILES: { html: true },
          FORBID_TAGS: ["style", "form", "input", "button", "iframe"],
        });
        if (!cancelled) setHtml(clean);
      })
      .catch((caught: unknown) => {
        if (!cancelled) setError(caught instanceof Error ? caught.message : String(caught));
      });
    return () => {
      cancelled = true;
    };
  }, [url]);
  if (error)
    return (
      <p className="file-error">
        Could not load {name}: {error}
      </p>
    );
  if (html === undefined) return <p className="muted">Loading {name}…</p>;
  return (
    <figure className="html-file">
      <div className="table-scroll" dangerouslySetInnerHTML={{ __html: html }} />
      <figcaption>{name}</figcaption>
    </figure>
  );
}

export function FileView({
  url,
  mediaType,
  filename,
}: {
  url: string;
  mediaType: string;
  filename?: string;
}) {
  const name = fileName(url, filename);
  const loaded = useLoadableUrl(url);
  if (mediaType === "text/html") return <HtmlFile url={url} name={name} />;
  if (!loaded) return <p className="muted">Loading {name}…</p>;
  if (loaded.error !== undefined)
    return (
      <p className="file-error">
        Could not load {name}: {loaded.error}
      </p>
    );
  if (mediaType.startsWith("image/"))
    return (
      <figure className="image-file">
        <img src={loaded.url} alt={name} />
        <figcaption>
          <a href={loaded.url} download={name}>
            {name}
          </a>
        </figcaption>
      </figure>
    );
  return (
    <a className="file-link" href={loaded.url} download={name}>
      {name}
    </a>
  );
}
