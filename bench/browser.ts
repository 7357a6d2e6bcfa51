// Decode speed of the same engine in headless Chromium (the chat page's engine worker, WASM
// kernels on a Web Worker pool) and in Node (worker_threads pool), on a stories110M-shape Q4_0
// model. Both sides are measured the same way: one OpenAI client streaming /v1/completions from
// the server's fetch handler (in-process in Node, in the engine worker in the browser).
//
//   npx node bench/browser.ts                    (synthetic stories110M-shape Q4_0, built once into the temp dir)
//   npx node bench/browser.ts -m model.gguf --tokens 64 --threads 2 --json

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { rename } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { syntheticLlama } from "../src/format/synthetic.ts";
import { writeGguf } from "../src/format/gguf.ts";
import { GgmlType } from "../src/format/ggml.ts";
import { quantize } from "../src/format/quant.ts";
import { FileSink } from "../src/node/file-sink.ts";
import { loadModel } from "../src/index.ts";
import { createEngine, createServer } from "../src/server/index.ts";
import { serveFetch } from "../src/node/http-server.ts";
import { dirAssets } from "../src/node/web-assets.ts";
import { OpenAIClient } from "../src/web/client.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const PROMPT = "Once upon a time";

/** stories110M's shape (12 layers, 768 wide, 12 heads, 2048 FFN, 32k vocabulary), random Q4_0 weights. */
export async function stories110MShape(): Promise<string> {
  const dir = join(tmpdir(), "llamats-bench");
  const path = join(dir, "stories110m-shape-q4_0.gguf");
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  process.stderr.write(`building ${path} (once)…\n`);
  const input = syntheticLlama({
    name: "stories110m-shape", vocabSize: 32000, dim: 768, layers: 12, heads: 12, ffn: 2048, contextLength: 1024, seed: 11,
    type: (_name, shape) => (shape.length === 1 ? GgmlType.F32 : GgmlType.Q4_0),
    quantize: (type, values) => quantize(type, values),
  });
  const sink = await FileSink.create(path + ".part");
  await writeGguf(sink, input);
  await sink.close();
  await rename(path + ".part", path);
  return path;
}

export interface DecodeResult {
  /** Generated tokens per second after the first (prompt processing excluded). */
  decodeTokensPerSecond: number;
  tokens: number;
}

export interface BrowserBenchResult {
  model: string;
  threads: number;
  node: DecodeResult;
  chromium: DecodeResult & { crossOriginIsolated: boolean; backend: string; threads: number };
  /** Chromium ÷ Node. */
  ratio: number;
}

/** Streams one greedy completion and times the chunks (one per generated token). */
async function decodeRate(client: OpenAIClient, tokens: number): Promise<DecodeResult> {
  const times: number[] = [];
  const stream = await client.completions.create({ prompt: PROMPT, max_tokens: tokens, temperature: 0, ignore_eos: true });
  for await (const c of stream) if (c.choices.length > 0 && c.choices[0]!.finish_reason === null) times.push(performance.now());
  const n = times.length;
  return { tokens: n, decodeTokensPerSecond: n > 1 ? ((n - 1) * 1000) / (times[n - 1]! - times[0]!) : 0 };
}

export async function benchBrowser(opts: { model?: string; tokens?: number; threads?: number; chromium?: string } = {}): Promise<BrowserBenchResult> {
  const chromiumPath = opts.chromium ?? "/usr/bin/chromium";
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath} (apt-get install -y chromium)`);
  const modelPath = opts.model ?? (await stories110MShape());
  const tokens = opts.tokens ?? 32;
  const threads = opts.threads ?? 2;
  execFileSync(process.execPath, [join(root, "web", "build.ts")], { stdio: "pipe" });

  const model = await loadModel(modelPath, { backend: "wasm", threads, contextSize: 512 });
  const modelId = modelPath.split(/[\\/]/).pop()!;
  const server = createServer({ modelId, assets: dirAssets() });
  server.ready(createEngine(model, { modelId, parallel: 1 }));
  const http = await serveFetch(server.fetch, { port: 0 });
  // Node first, before Chromium starts: its start-up competes for the same two cores (measured
  // Node at 103 tok/s with Chromium launching beside it, 195 alone).
  const local = new OpenAIClient((url, init) => server.fetch(new Request(new URL(url, "http://bench"), init)));
  await decodeRate(local, 4);
  const node = await decodeRate(local, tokens);
  const { chromium } = await import("playwright-core");
  const profile = mkdtempSync(join(tmpdir(), "llamats-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"],
  });
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(http.url + "/");
    await page.fill("#threads", String(threads));
    await page.click("#load");
    await page.waitForSelector("body[data-ready=browser]", { timeout: 300_000 });
    const info = await page.$eval("#model-info", (el) => ({ ...(el as HTMLElement).dataset }));
    // The page's own facade over the engine worker; the same timing as decodeRate above.
    const measure = (n: number) =>
      page.evaluate(async ({ prompt, n }) => {
        const api = (globalThis as unknown as { llamats: { browser: OpenAIClient } }).llamats.browser;
        const times: number[] = [];
        for await (const c of await api.completions.create({ prompt, max_tokens: n, temperature: 0, ignore_eos: true })) {
          if (c.choices.length > 0 && c.choices[0]!.finish_reason === null) times.push(performance.now());
        }
        const k = times.length;
        return { tokens: k, decodeTokensPerSecond: k > 1 ? ((k - 1) * 1000) / (times[k - 1]! - times[0]!) : 0 };
      }, { prompt: PROMPT, n });
    await measure(4);
    const inBrowser = await measure(tokens);
    return {
      model: modelId,
      threads,
      node,
      chromium: { ...inBrowser, crossOriginIsolated: info.isolated === "true", backend: info.backend ?? "?", threads: Number(info.threads) },
      ratio: inBrowser.decodeTokensPerSecond / node.decodeTokensPerSecond,
    };
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
    await http.close();
    await model.dispose();
  }
}

export function formatBrowserBench(r: BrowserBenchResult): string {
  return [
    `browser decode (${r.model}, ${r.threads} threads):`,
    `  node      ${r.node.decodeTokensPerSecond.toFixed(2)} tok/s (${r.node.tokens} tokens)`,
    `  chromium  ${r.chromium.decodeTokensPerSecond.toFixed(2)} tok/s (${r.chromium.tokens} tokens, ${r.chromium.backend}, ${r.chromium.threads} threads, isolated ${r.chromium.crossOriginIsolated})`,
    `  chromium / node = ${r.ratio.toFixed(2)}`,
  ].join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      model: { type: "string", short: "m" },
      tokens: { type: "string", default: "32" },
      threads: { type: "string", short: "t", default: "2" },
      json: { type: "boolean", default: false },
    },
  });
  const r = await benchBrowser({ model: values.model, tokens: Number(values.tokens), threads: Number(values.threads) });
  process.stdout.write((values.json ? JSON.stringify(r, null, 2) : formatBrowserBench(r)) + "\n");
}
