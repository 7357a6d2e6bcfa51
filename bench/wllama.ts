// The JS peer: wllama (llama.cpp compiled to WebAssembly, @wllama/wllama) on the same GGUF file,
// run in headless Chromium. wllama's default build needs JSPI and memory64; Node 24 has memory64
// but JSPI only behind a flag, and its worker code expects a browser (blob-URL module workers that
// spawn emscripten pthread workers, WorkerNavigator), so a browser is the honest host. The page is
// served cross-origin isolated so wllama gets its threads (SharedArrayBuffer).
// llama.cpp's own timings (llama-server's `timings`) give pp and tg; peak RSS is the high-water
// mark of the Chromium process holding the wasm heap (the renderer).
//
//   npx node bench/wllama.ts -m model.gguf --threads 2 [--prompt 128 --gen 64]

import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = fileURLToPath(new URL("../", import.meta.url));
const wllamaDir = join(root, "node_modules", "@wllama", "wllama", "esm");

export interface WllamaRun {
  threads: number;
  pp: number;
  tg: number;
  loadMs: number;
  /** VmHWM of the renderer process (where the wasm heap lives). */
  peakRssBytes: number;
  /** VmHWM summed over every Chromium process (an upper bound: shared pages count twice). */
  peakRssAllBytes: number;
  version: string;
}

const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

const PAGE = `<!doctype html><meta charset="utf-8"><title>wllama bench</title>
<script type="module">
import { Wllama } from "/wllama/index.js";
globalThis.runBench = async ({ threads, prompt, gen, debug }) => {
  const t0 = performance.now();
  const blob = await (await fetch("/model.gguf")).blob();
  const quiet = { debug() {}, log() {}, info() {}, warn: console.warn, error: console.error };
  const w = new Wllama({ default: "/wllama/wasm/wllama.wasm" }, debug ? {} : { suppressNativeLog: true, logger: quiet });
  globalThis.stage = "load";
  await w.loadModel([new File([blob], "model.gguf")], { n_threads: threads, n_ctx: 512, n_batch: 512, n_gpu_layers: 0, n_parallel: 1, flash_attn: false });
  const loadMs = performance.now() - t0;
  const threadsUsed = w.getNumThreads ? w.getNumThreads() : threads;
  globalThis.stage = "completion";
  const r = await w.createCompletion({ prompt, max_tokens: gen, temp: 0, ignore_eos: true, cache_prompt: false });
  await w.exit();
  return { loadMs, timings: r.timings, threadsUsed, isolated: crossOriginIsolated };
};
document.body.dataset.ready = "1";
</script>`;

function serve(modelPath: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    // Cross-origin isolation: wllama spawns pthreads only with SharedArrayBuffer.
    res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
    res.setHeader("Cross-Origin-Embedder-Policy", "require-corp");
    res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/") {
      res.setHeader("content-type", "text/html");
      res.end(PAGE);
      return;
    }
    let file: string | undefined;
    if (url.pathname === "/model.gguf") file = modelPath;
    else if (url.pathname.startsWith("/wllama/") && !url.pathname.includes("..")) file = join(wllamaDir, url.pathname.slice("/wllama/".length));
    if (!file || !existsSync(file)) {
      if (process.env.WLLAMA_BENCH_DEBUG) process.stderr.write(`404 ${url.pathname}\n`);
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader("content-type", file.endsWith(".js") ? "text/javascript" : file.endsWith(".wasm") ? "application/wasm" : "application/octet-stream");
    res.setHeader("content-length", String(statSync(file).size));
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
      }),
    ),
  );
}

/** Every process below `pid` (Chromium's browser, renderer, GPU and utility processes). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

function vmHwm(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function wllamaVersion(): string {
  return (JSON.parse(readFileSync(join(wllamaDir, "..", "package.json"), "utf8")) as { version: string }).version;
}

/**
 * wllama takes a text prompt (a token-id array fails inside its completion action), so the prompt
 * is words that the synthetic vocabulary holds as single pieces ("▁w1000", …): BOS + n − 1 words
 * are n tokens, which the returned timings confirm.
 */
export function wllamaPrompt(tokens: number): string {
  return Array.from({ length: tokens - 1 }, (_, i) => `w${1000 + i}`).join(" ");
}

/** VmHWM of Chromium's renderer with the page and wllama's module loaded, no model. */
export async function wllamaBaseRss(chromiumPath = "/usr/bin/chromium"): Promise<number> {
  const http = await serve("/dev/null");
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    await page.goto(http.url + "/");
    await page.waitForSelector("body[data-ready]", { state: "attached", timeout: 30_000 });
    return Math.max(0, ...descendants(process.pid).map(vmHwm));
  } finally {
    await browser.close();
    await http.close();
  }
}

export async function benchWllama(opts: { model: string; threads: number; promptTokens: number; gen: number; chromium?: string; timeoutMs?: number }): Promise<WllamaRun> {
  const chromiumPath = opts.chromium ?? "/usr/bin/chromium";
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath} (apt-get install -y chromium)`);
  if (!existsSync(join(wllamaDir, "wasm", "wllama.wasm"))) throw new Error("@wllama/wllama is not installed (npm ci)");
  const http = await serve(opts.model);
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const debug = !!process.env.WLLAMA_BENCH_DEBUG;
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
      if (debug) process.stderr.write(`[page] ${m.text()}\n`);
    });
    await page.goto(http.url + "/");
    await page.waitForSelector("body[data-ready]", { state: "attached", timeout: 30_000 });
    page.setDefaultTimeout(opts.timeoutMs ?? 600_000);
    const r = await page.evaluate((a) => (globalThis as unknown as { runBench: (x: typeof a) => Promise<unknown> }).runBench(a), { threads: opts.threads, prompt: wllamaPrompt(opts.promptTokens), gen: opts.gen, debug }).catch(async (e: Error) => {
      const stage = await page.evaluate(() => (globalThis as unknown as { stage?: string }).stage).catch(() => "?");
      throw new Error(`wllama ${stage ?? "fetch"}: ${e.message.split("\n")[0]}${errors.length ? ` (page: ${errors.slice(-3).join(" | ")})` : ""}`);
    }) as { loadMs: number; timings?: { prompt_n: number; prompt_per_second: number; predicted_n: number; predicted_per_second: number }; threadsUsed: number; isolated: boolean };
    if (!r.timings) throw new Error("wllama returned no timings");
    if (!r.isolated) throw new Error("page not cross-origin isolated: wllama would run single-threaded");
    if (r.timings.prompt_n !== opts.promptTokens || r.timings.predicted_n !== opts.gen) {
      throw new Error(`wllama processed ${r.timings.prompt_n} prompt / ${r.timings.predicted_n} generated tokens, expected ${opts.promptTokens} / ${opts.gen}`);
    }
    const hwm = descendants(process.pid).map(vmHwm);
    return {
      threads: r.threadsUsed,
      pp: r.timings.prompt_per_second,
      tg: r.timings.predicted_per_second,
      loadMs: r.loadMs,
      peakRssBytes: Math.max(0, ...hwm),
      peakRssAllBytes: hwm.reduce((a, b) => a + b, 0),
      version: wllamaVersion(),
    };
  } finally {
    await browser.close();
    await http.close();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      model: { type: "string", short: "m" },
      threads: { type: "string", short: "t", default: "2" },
      prompt: { type: "string", default: "128" },
      gen: { type: "string", default: "64" },
    },
  });
  if (!values.model) throw new Error("-m model.gguf is required");
  const r = await benchWllama({ model: values.model, threads: Number(values.threads), promptTokens: Number(values.prompt), gen: Number(values.gen) });
  process.stdout.write(JSON.stringify(r) + "\n");
}
