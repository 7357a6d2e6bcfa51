// Manual check (not in npm test; `npm run test:big`): a Llama-3-8B-shape Q4_K_M model (≈ 4.9 GB,
// over the 4 GiB of one wasm32 memory) loads on the wasm backend and generates. Writes the model
// once into .cache/big/ (llama.cpp's Q4_K_M mixture from quantize-model.ts; each tensor tiles a few
// properly quantized random rows, since values do not matter for speed or memory, only the format),
// then prints load time, peak RSS against file + KV, decode tok/s and the greedy tokens.
//   node test/big/8b.ts [--backend wasm|ref] [--tokens 4] [--threads N] [--ctx 256] [--vocab 128256]

import { existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { GgmlType } from "../../src/format/ggml.ts";
import { GgufValueType, writeGguf } from "../../src/format/gguf.ts";
import type { GgufType, GgufWriteTensor } from "../../src/format/gguf.ts";
import type { MetaValue, TensorInfo } from "../../src/format/model-file.ts";
import { quantize } from "../../src/format/quant.ts";
import { planQuantization } from "../../src/format/quantize-model.ts";
import { Rng, syntheticLlama } from "../../src/format/synthetic.ts";
import { FileSink } from "../../src/node/file-sink.ts";
import { loadModel } from "../../src/index.ts";

const { values: args } = parseArgs({
  options: {
    backend: { type: "string", default: "wasm" },
    tokens: { type: "string", default: "4" },
    threads: { type: "string" },
    ctx: { type: "string", default: "256" },
    vocab: { type: "string", default: "128256" },
  },
});
const VOCAB = Number(args.vocab);
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const path = join(root, ".cache", "big", `llama-8b-shape-v${VOCAB}-q4_k_m.gguf`);
const TILE_ROWS = 32;

function uniqueTokens(tokens: string[]): string[] {
  const seen = new Set<string>();
  return tokens.map((t, i) => {
    const u = seen.has(t) ? `<dup${i}>` : t;
    seen.add(u);
    return u;
  });
}

async function writeModel(): Promise<void> {
  const base = syntheticLlama({
    name: "llama-8b-shape", vocabSize: VOCAB, dim: 4096, layers: 32, heads: 32, kvHeads: 8, ffn: 14336,
    contextLength: 8192, ropeFreqBase: 500000,
  });
  const infos: TensorInfo[] = base.tensors.map((t) => {
    const elements = t.shape.reduce((a, b) => a * b, 1);
    return { name: t.name, type: GgmlType.F32, shape: t.shape, elements, byteLength: elements * 4 };
  });
  const plan = new Map(planQuantization({ metadata: base.metadata, tensors: infos }, "Q4_K_M").map((p) => [p.name, p.to]));
  // A few rows per (type, row length, kind), quantized for real and repeated to fill each tensor.
  const tiles = new Map<string, Uint8Array>();
  const tile = (type: GgmlType, cols: number, kind: string): Uint8Array => {
    const key = `${type}/${cols}/${kind}`;
    let t = tiles.get(key);
    if (!t) {
      const rng = new Rng(tiles.size + 1);
      const v = new Float32Array(cols * TILE_ROWS);
      const std = kind === "embd" ? 1 : 0.02;
      for (let i = 0; i < v.length; i++) v[i] = std * rng.normal();
      t = quantize(type, v);
      tiles.set(key, t);
    }
    return t;
  };
  const tensors: GgufWriteTensor[] = base.tensors.map((t, index) => {
    const type = plan.get(t.name)!;
    if (t.shape.length === 1) return { ...t, type: GgmlType.F32 };
    return {
      name: t.name, type, shape: t.shape,
      data: () => {
        const rows = t.shape[1]!;
        const tl = tile(type, t.shape[0]!, t.name === "token_embd.weight" ? "embd" : "matrix");
        const rb = tl.byteLength / TILE_ROWS;
        const out = new Uint8Array(rb * rows);
        // Rows start at a different tile row per tensor, so layers are not all alike.
        for (let r = 0; r < rows; r++) {
          const src = (r + index) % TILE_ROWS;
          out.set(tl.subarray(src * rb, (src + 1) * rb), r * rb);
        }
        return out;
      },
    };
  });
  const metadata = new Map<string, MetaValue>(base.metadata);
  const metadataTypes = new Map<string, GgufType>(base.metadataTypes);
  metadata.set("tokenizer.ggml.tokens", uniqueTokens(metadata.get("tokenizer.ggml.tokens") as string[]));
  metadata.set("general.file_type", 15);
  metadataTypes.set("general.file_type", { type: GgufValueType.U32 });
  metadata.set("general.quantization_version", 2);
  metadataTypes.set("general.quantization_version", { type: GgufValueType.U32 });
  mkdirSync(dirname(path), { recursive: true });
  const sink = await FileSink.create(path + ".part");
  const t0 = performance.now();
  await writeGguf(sink, { metadata, metadataTypes, tensors });
  await sink.close();
  renameSync(path + ".part", path);
  console.log(`wrote ${path} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

if (!existsSync(path)) await writeModel();
const fileBytes = statSync(path).size;
const gb = (n: number) => `${(n / 1e9).toFixed(2)} GB`;
const ctx = Number(args.ctx);
const backend = args.backend as "wasm" | "ref";

const rss0 = process.resourceUsage().maxRSS * 1024;
let t = performance.now();
const model = await loadModel(path, { backend, threads: args.threads ? Number(args.threads) : undefined, contextSize: ctx, batchSize: 8 });
const loadS = (performance.now() - t) / 1000;
const rssLoad = process.resourceUsage().maxRSS * 1024;
const kvBytes = 2 * 32 * ctx * 8 * 128 * 2;
try {
  const b = model.backend as { shards?: number; weightBytesPerShard?: number[]; heapBytes?: number };
  console.log(`${backend}: file ${gb(fileBytes)}; loaded in ${loadS.toFixed(1)} s` +
    (b.weightBytesPerShard ? `; ${b.weightBytesPerShard.filter((n) => n > 0).length} memories with weights (${b.weightBytesPerShard.map(gb).join(" + ")}), wasm heap ${gb(b.heapBytes!)}` : ""));
  const s = model.createSession();
  const prompt = [1, 450, 4996, 17354, 1701];
  const tokens: number[] = [];
  t = performance.now();
  let l = await s.evaluate(prompt);
  const ppS = (performance.now() - t) / 1000;
  const steps = Number(args.tokens);
  t = performance.now();
  for (let i = 0; i < steps; i++) {
    let best = 0;
    for (let j = 1; j < l.length; j++) if (l[j]! > l[best]!) best = j;
    tokens.push(best);
    if (i < steps - 1) l = await s.evaluate([best]);
  }
  const tgS = (performance.now() - t) / 1000;
  const rss = process.resourceUsage().maxRSS * 1024;
  console.log(`prefill ${prompt.length} tokens ${ppS.toFixed(1)} s (${(prompt.length / ppS).toFixed(2)} tok/s); ` +
    `decode ${steps - 1} tokens ${tgS.toFixed(1)} s (${((steps - 1) / tgS).toFixed(2)} tok/s)`);
  console.log(`peak RSS: before load ${gb(rss0)}, after load ${gb(rssLoad)}, end ${gb(rss)} = ${(rss / (fileBytes + kvBytes)).toFixed(3)} × (file + KV ${gb(kvBytes)})`);
  console.log(`greedy tokens: ${JSON.stringify(tokens)}`);
} finally {
  await model.dispose();
}
