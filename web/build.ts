// Builds the chat page into build/web/: the page script, the engine worker and the WASM pool
// worker (ES modules bundled from src/ by esbuild), the HTML and CSS, and the compiled kernels
// from build/wasm/ when `npm run build:wasm` has made them. Run by `npm run build:web`.

import { copyFileSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "build", "web");
mkdirSync(outDir, { recursive: true });

await build({
  entryPoints: {
    page: join(root, "web", "page.ts"),
    "engine-worker": join(root, "src", "web", "engine-worker.ts"),
    "pool-worker": join(root, "src", "web", "pool-worker.ts"),
  },
  outdir: outDir,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["chrome120", "firefox120", "safari17"],
  sourcemap: "linked",
  minify: process.argv.includes("--minify"),
  logLevel: "warning",
  // The Node-only fallbacks reached through computed import() paths stay out of the bundle.
  logOverride: { "unsupported-dynamic-import": "silent" },
});

for (const f of ["index.html", "style.css"]) copyFileSync(join(root, "web", f), join(outDir, f));
const wasmDir = join(root, "build", "wasm");
const kernels = existsSync(wasmDir) ? readdirSync(wasmDir).filter((f) => f.endsWith(".wasm")) : [];
for (const f of kernels) copyFileSync(join(wasmDir, f), join(outDir, f));
process.stdout.write(`page built into ${outDir}${kernels.length ? "" : " (no WASM kernels: the page will use the reference backend)"}\n`);
