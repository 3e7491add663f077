import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// Preact's JSX through esbuild's automatic runtime: no Babel, no CDN; everything is bundled into
// dist/console, which Keyward serves at /console.
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/console/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: fileURLToPath(new URL("../dist/console", import.meta.url)),
    emptyOutDir: true,
    // No inline scripts or styles: the CSP allows only files from this origin.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: "es2022",
  },
  logLevel: "warn",
});
