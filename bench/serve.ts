// Serving throughput: aggregate generated tokens per second with 1, 4 and 8 concurrent streaming
// clients against `llamats serve` (continuous batching), and time to first token under load.
// Decoding is memory-bound, so sharing each pass over the weights between sequences should pay.
//
//   npx node bench/serve.ts                      (TinyLlama-shape Q4_0 synthetic model, built once into the temp dir)
//   npx node bench/serve.ts -m model.gguf --clients 1,4,8 --tokens 32 --threads 2 --json

import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { syntheticLlama } from "../src/format/synthetic.ts";
import { writeGguf } from "../src/format/gguf.ts";
import { GgmlType } from "../src/format/ggml.ts";
import { quantize } from "../src/format/quant.ts";
import { FileSink } from "../src/node/file-sink.ts";
import { serveModel } from "../src/node/http-llama.ts";

export interface ConcurrencyResult {
  clients: number;
  generatedTokens: number;
  wallSeconds: number;
  /** Generated tokens per second over all clients. */
  tokensPerSecond: number;
  ttftMeanSeconds: number;
  ttftMaxSeconds: number;
}

/** TinyLlama 1.1B's shape (22 layers, 2048 wide, GQA 32/4, 32k vocabulary), random Q4_0 weights. */
export async function tinyLlamaShape(): Promise<string> {
  const dir = join(tmpdir(), "llamats-bench");
  const path = join(dir, "tinyllama-shape-q4_0-v2.gguf");
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  process.stderr.write(`building ${path} (once)…\n`);
  const tmp = path + ".part";
  const sink = await FileSink.create(tmp);
  const input = syntheticLlama({
    name: "tinyllama-shape", vocabSize: 32000, dim: 2048, layers: 22, heads: 32, kvHeads: 4, ffn: 5632, contextLength: 2048, seed: 7,
    type: (_name, shape) => (shape.length === 1 ? GgmlType.F32 : GgmlType.Q4_0),
    quantize: (type, values) => quantize(type, values),
  });
  await writeGguf(sink, input);
  await sink.close();
  const { rename } = await import("node:fs/promises");
  await rename(tmp, path);
  return path;
}

async function streamOne(url: string, prompt: string, tokens: number): Promise<{ ttft: number; generated: number }> {
  const t0 = performance.now();
  const res = await fetch(url + "/v1/completions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt, max_tokens: tokens, temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
  });
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let ttft = -1;
  let generated = 0;
  let buf = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let at: number;
    while ((at = buf.indexOf("\n\n")) >= 0) {
      const event = buf.slice(0, at);
      buf = buf.slice(at + 2);
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
      const chunk = JSON.parse(event.slice(6)) as { choices: Array<{ text: string }>; usage?: { completion_tokens: number } | null };
      if (ttft < 0 && chunk.choices.length > 0) ttft = (performance.now() - t0) / 1000;
      if (chunk.usage) generated = chunk.usage.completion_tokens;
    }
  }
  return { ttft, generated };
}

export async function benchServe(opts: { model?: string; clients: number[]; tokens: number; threads?: number }): Promise<ConcurrencyResult[]> {
  const model = opts.model ?? (await tinyLlamaShape());
  const parallel = Math.max(...opts.clients);
  const serving = await serveModel({ model, port: 0, backend: "wasm", threads: opts.threads, parallel, contextSize: 256 * parallel });
  try {
    await serving.loaded;
    // warm-up: kernels compiled, caches touched
    await streamOne(serving.url, "warm up", 2);
    const results: ConcurrencyResult[] = [];
    for (const clients of opts.clients) {
      const t0 = performance.now();
      const runs = await Promise.all(
        Array.from({ length: clients }, (_, i) => streamOne(serving.url, `Client ${i} asks: tell me story number ${i * 7 + clients}.`, opts.tokens)),
      );
      const wall = (performance.now() - t0) / 1000;
      const generated = runs.reduce((a, r) => a + r.generated, 0);
      results.push({
        clients,
        generatedTokens: generated,
        wallSeconds: wall,
        tokensPerSecond: generated / wall,
        ttftMeanSeconds: runs.reduce((a, r) => a + r.ttft, 0) / clients,
        ttftMaxSeconds: Math.max(...runs.map((r) => r.ttft)),
      });
    }
    return results;
  } finally {
    await serving.close();
  }
}

export function formatServeBench(results: readonly ConcurrencyResult[]): string {
  const base = results[0]!.tokensPerSecond;
  const lines = ["serving throughput (streaming clients, continuous batching):", "clients  tok/s   speedup  TTFT mean  TTFT max"];
  for (const r of results) {
    lines.push(
      `${String(r.clients).padStart(7)}  ${r.tokensPerSecond.toFixed(2).padStart(6)}  ${(r.tokensPerSecond / base).toFixed(2).padStart(6)}×  ` +
        `${r.ttftMeanSeconds.toFixed(2).padStart(8)}s  ${r.ttftMaxSeconds.toFixed(2).padStart(7)}s`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      model: { type: "string", short: "m" },
      clients: { type: "string", default: "1,4,8" },
      tokens: { type: "string", default: "32" },
      threads: { type: "string", short: "t" },
      json: { type: "boolean", default: false },
    },
  });
  const results = await benchServe({
    model: values.model,
    clients: values.clients!.split(",").map(Number),
    tokens: Number(values.tokens),
    threads: values.threads ? Number(values.threads) : undefined,
  });
  const base = results[0]!.tokensPerSecond;
  if (values.json) {
    process.stdout.write(JSON.stringify({ serve: results.map((r) => ({ ...r, speedup: r.tokensPerSecond / base })) }, null, 2) + "\n");
  } else {
    process.stdout.write(formatServeBench(results) + "\n");
  }
}
