/// <reference types="vitest/config" />
// Vite builds the app into dist/ (served by the gateway at /); the dev server proxies /api to the
// gateway so the app talks to the real stack with the same origin as in production.
import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";

const apiTarget = process.env.WEB_API_TARGET ?? "http://localhost:8080";

// Swagger UI for the gateway's /docs page, served from this build rather than a CDN, so the API
// docs work without internet access (the gateway writes the page; these are its assets).
function swaggerUiAssets(): Plugin {
  const files = ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"];
  return {
    name: "swagger-ui-assets",
    apply: "build",
    closeBundle() {
      const source = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
      const target = join("dist", "swagger-ui");
      mkdirSync(target, { recursive: true });
      for (const file of files) copyFileSync(join(source, file), join(target, file));
    },
  };
}

export default defineConfig({
  plugins: [react(), swaggerUiAssets()],
  server: {
    port: 5173,
    proxy: {
      "/api": { target: apiTarget, changeOrigin: false },
    },
  },
  build: {
    outDir: "dist",
    assetsDir: "assets",
    // Inlined assets would become data: URLs in CSS and script (allowed only for images by the
    // gateway's Content-Security-Policy): keep every asset a hashed file.
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    css: false,
    restoreMocks: true,
    // The page tests type into whole forms; on two busy cores (make test runs them beside the
    // whole stack) that can take longer than vitest's 5 s default without anything being wrong.
    testTimeout: 20000,
  },
});
