// The web playground (apps/web), served on the API's own origin so that it needs no CORS and
// shares the API's keys. The build sits next to the bundled bin (dist/web, copied by
// tooling/bundle) or, in the repository, in apps/web/dist.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { serveStatic } from "@hono/node-server/serve-static";
import { Hono, type MiddlewareHandler } from "hono";

/** Options of {@link createWebAssets}. */
export interface WebAssetsOptions {
  /**
   * The folder holding the playground's build (`index.html` and `assets/`).
   * @default `../web` next to the bundled bin, else the repository's `apps/web/dist`
   */
  directory?: string;
}

/** Where the playground's build is, if it was built. */
export function findWebBuild(): string | undefined {
  const candidates = [
    fileURLToPath(new URL("../web", import.meta.url)),
    fileURLToPath(new URL("../../web/dist", import.meta.url)),
  ];
  return candidates.find((directory) => existsSync(join(directory, "index.html")));
}

const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "img-src 'self' blob: data:",
  "style-src 'self' 'unsafe-inline'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TaskWeaver</title></head>
<body style="font: 15px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>TaskWeaver API</h1>
<p>The web playground is not built. Run <code>pnpm setup</code> (or <code>pnpm --filter @taskweaver/web build</code>) and reload.</p>
<p>The API reference is at <a href="/api/v1/docs">/api/v1/docs</a>.</p>
</body></html>`;

/**
 * `GET /` (the playground's page) and `GET /assets/*` (its hashed scripts and styles, cached for
 * good). The page itself needs no key: it asks for one when the API does.
 */
export function createWebAssets(options: WebAssetsOptions = {}): Hono {
  const directory = options.directory ?? findWebBuild();
  const router = new Hono();
  if (!directory || !existsSync(join(directory, "index.html"))) {
    router.get("/", (c) => c.html(NOT_BUILT));
    return router;
  }
  const withHeaders =
    (headers: Record<string, string>): MiddlewareHandler =>
    async (c, next) => {
      await next();
      if (c.res.status === 200)
        for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
    };
  router.get(
    "/assets/*",
    withHeaders({ "Cache-Control": "public, max-age=31536000, immutable" }),
    serveStatic({ root: directory }),
  );
  router.get(
    "/",
    // A new build has new asset names, so the page is checked again every time; and only our
    // own scripts run, whatever a sanitized table or a file name might carry.
    withHeaders({ "Cache-Control": "no-cache", "Content-Security-Policy": CONTENT_SECURITY_POLICY }),
    serveStatic({ root: directory, path: "index.html" }),
  );
  return router;
}
