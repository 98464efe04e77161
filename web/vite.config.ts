/// <reference types="vitest/config" />
// Vite builds the app into dist/ (served by the gateway at /); the dev server proxies /api to the
// gateway so the app talks to the real stack with the same origin as in production.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const apiTarget = process.env.WEB_API_TARGET ?? "http://localhost:8080";

export default defineConfig({
  plugins: [react()],
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
  },
});
