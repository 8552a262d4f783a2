import { defineConfig } from "vite";

// The API serves the build at `/` (apps/api/src/web-assets.ts); `pnpm --filter @taskweaver/web dev`
// proxies the API routes to a server started with `pnpm serve` on the default port.
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    rollupOptions: {
      onwarn(warning, warn) {
        // The AI SDK's React hooks start with "use client", which means nothing outside a server-components framework.
        if (warning.code === "MODULE_LEVEL_DIRECTIVE") return;
        warn(warning);
      },
    },
  },
  server: { proxy: { "/api": "http://127.0.0.1:8000" } },
});
