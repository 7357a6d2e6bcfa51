// Our forward pass against llama.cpp (node-llama-cpp 3.21.1, CPU) on synthetic random-weight
// models written by our GGUF writer, in every weight type: the same 32 greedy tokens, and
// next-token probabilities within 1e-5 at every step (both backends reproduce llama.cpp's x86
// arithmetic; what is left is last-bit noise). Runs the reference and the wasm backend, or the
// one named by LLAMATS_BACKEND.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GgmlType } from "../../src/format/ggml.ts";
import { Rng, syntheticLlama } from "../../src/format/synthetic.ts";
import { GgufValueType, writeGguf, type GgufWriteInput } from "../../src/format/gguf.ts";
import type { MetaValue } from "../../src/format/model-file.ts";
import { quantize } from "../../src/format/quant.ts";
import { FileSink } from "../../src/node/file-sink.ts";
import { loadModel } from "../../src/index.ts";
import { argmax, peerProbabilities, softmax } from "./llamacpp.ts";

const dir = join(tmpdir(), `llamats-peer-${process.pid}`);
mkdirSync(dir, { recursive: true });

const TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"] as const;
const GENERATE = 32;
const BACKENDS = (process.env.LLAMATS_BACKEND ? [process.env.LLAMATS_BACKEND] : ["ref", "wasm"]) as ("ref" | "wasm")[];

/**
 * The same model as Qwen2: `qwen2.*` keys (llama.cpp then uses the NEOX RoPE layout) and random
 * Q/K/V biases.
 */
function asQwen2(input: GgufWriteInput): GgufWriteInput {
  const rename = (k: string) => (k.startsWith("llama.") ? `qwen2.${k.slice(6)}` : k);
  const metadata = new Map<string, MetaValue>([...input.metadata].map(([k, v]) => [rename(k), v]));
  const metadataTypes = new Map([...(input.metadataTypes ?? [])].map(([k, v]) => [rename(k), v]));
  metadata.set("general.architecture", "qwen2");
  const rng = new Rng(11);
  const tensors = input.tensors.flatMap((t) => {
    const m = /^blk\.(\d+)\.attn_([qkv])\.weight$/.exec(t.name);
    if (!m) return [t];
    const bias = Float32Array.from({ length: t.shape[1]! }, () => 0.1 * rng.normal());
    return [t, { name: `blk.${m[1]}.attn_${m[2]}.bias`, type: GgmlType.F32, shape: [t.shape[1]!], data: new Uint8Array(bias.buffer) }];
  });
  return { metadata, metadataTypes, tensors };
}

/**
 * Llama 3.1-style RoPE: a large base and per-frequency divisors in `rope_freqs.weight`, plus
 * linear position scaling (as long-context fine-tunes declare it).
 */
function withRopeVariants(input: GgufWriteInput, headDim: number): GgufWriteInput {
  const metadata = new Map(input.metadata)
    .set("llama.rope.freq_base", 500000)
    .set("llama.rope.scaling.type", "linear")
    .set("llama.rope.scaling.factor", 2);
  const metadataTypes = new Map(input.metadataTypes ?? [])
    .set("llama.rope.freq_base", { type: GgufValueType.F32 })
    .set("llama.rope.scaling.type", { type: GgufValueType.STRING })
    .set("llama.rope.scaling.factor", { type: GgufValueType.F32 });
  const factors = Float32Array.from({ length: headDim / 2 }, (_, i) => 1 + (7 * i) / (headDim / 2 - 1));
  const ropeFreqs = { name: "rope_freqs.weight", type: GgmlType.F32, shape: [headDim / 2], data: new Uint8Array(factors.buffer) };
  return { metadata, metadataTypes, tensors: [...input.tensors, ropeFreqs] };
}

async function writeModel(name: string, type: GgmlType, tied: boolean, qwen2 = false, rope = false): Promise<string> {
  const path = join(dir, `${name}.gguf`);
  let input = syntheticLlama({
    vocabSize: 512, dim: 256, layers: 2, heads: 4, kvHeads: 2, ffn: 512, tiedEmbeddings: tied,
    type, quantize, seed: 7, std: 0.08,
  });
  if (qwen2) input = asQwen2(input);
  if (rope) input = withRopeVariants(input, 64);
  const sink = await FileSink.create(path);
  await writeGguf(sink, input);
  await sink.close();
  return path;
}

const report: string[] = [];

const CASES = [
  ...TYPES.map((t) => ({ typeName: t, tied: false, qwen2: false, rope: false })),
  { typeName: "F16", tied: true, qwen2: false, rope: false },
  { typeName: "Q8_0", tied: true, qwen2: false, rope: false },
  { typeName: "F32", tied: false, qwen2: true, rope: false },
  { typeName: "Q8_0", tied: true, qwen2: true, rope: false },
  { typeName: "F32", tied: false, qwen2: false, rope: true },
] as const;

for (const { typeName, tied, qwen2, rope } of CASES) {
  {
    const label = `${qwen2 ? "qwen2 " : ""}${typeName}${tied ? " (tied embeddings)" : ""}${rope ? " (rope_freqs, linear scaling)" : ""}`;
    test(`llama.cpp parity: ${label}`, async () => {
      const type = GgmlType[typeName];
      const path = await writeModel(label.replace(/[ (),]+/g, "-"), type, tied, qwen2, rope);
      const runs = [];
      for (const backend of BACKENDS) runs.push({ backend, ...(await greedyRun(path, backend)) });
      const { prompt, ours } = runs[0]!;
      // Teacher-forced on our tokens: llama.cpp's argmax after each must be our next token.
      const theirs = await peerProbabilities(path, 512, [...prompt, ...ours.slice(0, -1)], prompt.length - 1);
      for (const run of runs) {
        let worst = 0;
        for (let i = 0; i < GENERATE; i++) {
          const t = argmax(theirs[i]!), o = run.ours[i]!;
          assert.equal(t, o, `${label} (${run.backend}): token ${i} differs: llama.cpp p(${t})=${theirs[i]![t]} p(${o})=${theirs[i]![o]}; ours p(${t})=${run.probs[i]![t]} p(${o})=${run.probs[i]![o]}`);
          for (let v = 0; v < 512; v++) worst = Math.max(worst, Math.abs(theirs[i]![v]! - run.probs[i]![v]!));
        }
        report.push(`${`${label} (${run.backend})`.padEnd(32)} max |Δp| = ${worst.toExponential(2)}`);
        assert.ok(worst < 1e-5, `${label} (${run.backend}): probabilities differ by up to ${worst}`);
      }
    });
  }
}

/** 32 greedy tokens from the prompt and the next-token probabilities before each. */
async function greedyRun(path: string, backend: "ref" | "wasm") {
  const model = await loadModel(path, { contextSize: 256, kvType: "f16", backend, threads: 2 });
  try {
    const prompt = model.tokenize("the quick brown fox jumps over the lazy dog");
    const s = model.createSession();
    let logits = await s.evaluate(prompt);
    const ours: number[] = [];
    const probs: Float64Array[] = [];
    for (let i = 0; i < GENERATE; i++) {
      probs.push(softmax(logits));
      const t = argmax(logits);
      ours.push(t);
      if (i + 1 < GENERATE) logits = await s.evaluate([t]);
    }
    return { prompt, ours, probs };
  } finally {
    await model.dispose();
  }
}

test.after(() => {
  if (report.length) console.log(`# llama.cpp parity, ${GENERATE} greedy tokens each:\n# ${report.join("\n# ")}`);
});
