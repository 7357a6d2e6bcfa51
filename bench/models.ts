// The benchmark's models: random weights in real shapes, quantized the way llama-quantize does it.
// The synthetic F32 model is never written out: it is presented as a ModelFile whose tensors are
// generated when read, and quantize-model.ts turns it into the file type (its per-tensor mixture,
// e.g. Q4_K_M's Q6_K output and attn_v/ffn_down layers, and Q4_0's Q6_K output head), streamed
// into a GGUF under .cache/bench.

import { existsSync, mkdirSync, statSync } from "node:fs";
import { rename } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { GgmlType, ggmlTypeName } from "../src/format/ggml.ts";
import { readGguf, writeGguf } from "../src/format/gguf.ts";
import type { ModelFile, TensorInfo } from "../src/format/model-file.ts";
import { quantizeModel, type QuantTypeName } from "../src/format/quantize-model.ts";
import { syntheticLlama } from "../src/format/synthetic.ts";
import { FileSink } from "../src/node/file-sink.ts";
import { FileSource } from "../src/node/file-source.ts";
import { createQuantizePool } from "../src/node/quantize-pool.ts";

export const cacheDir = join(fileURLToPath(new URL("..", import.meta.url)), ".cache", "bench");

export interface Shape {
  readonly label: string;
  readonly vocabSize: number;
  readonly dim: number;
  readonly layers: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly ffn: number;
  readonly contextLength: number;
  readonly seed: number;
}

export const SHAPES: Record<string, Shape> = {
  tinyllama: { label: "TinyLlama-1.1B", vocabSize: 32000, dim: 2048, layers: 22, heads: 32, kvHeads: 4, ffn: 5632, contextLength: 2048, seed: 7 },
  stories110m: { label: "stories110M", vocabSize: 32000, dim: 768, layers: 12, heads: 12, kvHeads: 12, ffn: 2048, contextLength: 1024, seed: 11 },
};

export const QUANTS: Record<string, QuantTypeName> = { q4_0: "Q4_0", q8_0: "Q8_0", q4_k_m: "Q4_K_M" };

/** The synthetic model in F32, as a ModelFile whose tensor bytes are generated on read. */
function syntheticF32(shapeName: string): ModelFile {
  const s = SHAPES[shapeName]!;
  const input = syntheticLlama({
    name: `${shapeName}-shape`, vocabSize: s.vocabSize, dim: s.dim, layers: s.layers, heads: s.heads, kvHeads: s.kvHeads,
    ffn: s.ffn, contextLength: s.contextLength, seed: s.seed, type: GgmlType.F32,
  });
  const tensors: TensorInfo[] = input.tensors.map((t) => {
    const elements = t.shape.reduce((a, b) => a * b, 1);
    return { name: t.name, type: t.type, shape: t.shape, elements, byteLength: elements * 4 };
  });
  const byName = new Map(input.tensors.map((t) => [t.name, t]));
  return {
    format: "gguf",
    name: `${shapeName}-shape (synthetic F32)`,
    metadata: input.metadata,
    metadataTypes: input.metadataTypes,
    tensors,
    async readTensor(name) {
      const d = byName.get(name)!.data;
      return typeof d === "function" ? await d() : d;
    },
    async close() {},
  } as ModelFile;
}

export function modelPath(shape: string, quant: string): string {
  return join(cacheDir, `${shape}-${quant}.gguf`);
}

/** Builds the model once (minutes for the TinyLlama shape) and returns its path. */
export async function ensureModel(shape: string, quant: string, log: (s: string) => void = (s) => process.stderr.write(s)): Promise<string> {
  if (!SHAPES[shape]) throw new Error(`unknown shape ${shape} (valid: ${Object.keys(SHAPES).join(", ")})`);
  if (!QUANTS[quant]) throw new Error(`unknown quant ${quant} (valid: ${Object.keys(QUANTS).join(", ")})`);
  const path = modelPath(shape, quant);
  if (existsSync(path)) return path;
  mkdirSync(cacheDir, { recursive: true });
  log(`building ${path} (once: synthetic F32 → llamats quantize ${QUANTS[quant]})…\n`);
  const t0 = performance.now();
  const pool = createQuantizePool(2);
  try {
    const { input, plan } = quantizeModel(syntheticF32(shape), QUANTS[quant]!, { quantize: pool.quantize });
    const sink = await FileSink.create(path + ".part");
    await writeGguf(sink, input);
    await sink.close();
    await rename(path + ".part", path);
    const counts = new Map<string, number>();
    for (const p of plan) counts.set(ggmlTypeName(p.to), (counts.get(ggmlTypeName(p.to)) ?? 0) + 1);
    log(`  ${[...counts].map(([k, v]) => `${v} ${k}`).join(", ")}; ${(statSync(path).size / 2 ** 20).toFixed(0)} MiB in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  } finally {
    await pool.close();
  }
  return path;
}

export interface ModelFacts {
  shape: string;
  quant: string;
  path: string;
  fileBytes: number;
  /** F16 K and V for `ctx` positions, every layer (what all three engines allocate at n_ctx = ctx). */
  kvBytes: number;
  /**
   * Weight bytes one decode step reads: every tensor once, except the embedding table, of which
   * only the token's row is read.
   */
  weightBytesPerToken: number;
  /** Tensor types and counts, e.g. "Q4_K ×…". */
  types: string;
}

export async function modelFacts(shape: string, quant: string, path: string, ctx: number): Promise<ModelFacts> {
  const s = SHAPES[shape]!;
  const src = await FileSource.open(path);
  try {
    const file = await readGguf(src);
    let weights = 0;
    const counts = new Map<string, number>();
    for (const t of file.tensors) {
      const name = ggmlTypeName(t.type);
      counts.set(name, (counts.get(name) ?? 0) + 1);
      weights += t.name === "token_embd.weight" ? t.byteLength / t.shape[1]! : t.byteLength;
    }
    const kvDim = (s.dim / s.heads) * s.kvHeads;
    return {
      shape, quant, path,
      fileBytes: src.size,
      kvBytes: 2 * s.layers * ctx * kvDim * 2,
      weightBytesPerToken: weights,
      types: [...counts].map(([k, v]) => `${v} ${k}`).join(", "),
    };
  } finally {
    await src.close();
  }
}
