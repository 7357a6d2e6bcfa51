// Weights spread over several wasm memories (shards.ts) compute exactly what one memory does: a
// tiny per-memory cap forces stories260K and a synthetic Q4_K/Q6_K/Q8_0 model over ≥ 3 memories,
// and prefill (in transfer chunks) and decode logits must equal the single-memory run bit for bit,
// with greedy tokens equal to the reference backend's.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { loadModel } from "../../src/index.ts";
import { BytesSource } from "../../src/format/source.ts";
import { MemorySink, readGguf, writeGguf } from "../../src/format/gguf.ts";
import { GgmlType } from "../../src/format/ggml.ts";
import { quantize } from "../../src/format/quant.ts";
import { syntheticLlama } from "../../src/format/synthetic.ts";
import { createWasmBackend } from "../../src/backend/wasm/index.ts";
import type { Backend } from "../../src/backend/types.ts";
import { planShards } from "../../src/backend/wasm/shards.ts";
import { FIXTURES_URL } from "../fixtures-path.ts";

const stories = readFileSync(new URL("models/stories260K.gguf", FIXTURES_URL));

async function synthetic(): Promise<Uint8Array> {
  const sink = new MemorySink();
  await writeGguf(sink, syntheticLlama({
    vocabSize: 512, dim: 256, layers: 2, heads: 4, kvHeads: 2, ffn: 512, seed: 5, std: 0.3,
    type: (name, shape) => {
      if (shape.length === 1) return GgmlType.F32;
      if (name === "output.weight") return GgmlType.Q6_K;
      if (name.includes("attn_v") || name.includes("ffn_down")) return GgmlType.Q8_0;
      return GgmlType.Q4_K;
    },
    quantize: (type, v) => quantize(type, v),
  }));
  return sink.bytes();
}

const PROMPT = [1, 403, 407, 261, 378, 385, 300, 271, 290, 303, 411, 263, 280, 299, 350, 320, 330, 340, 360, 370];
const STEPS = 6;

function argmax(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

/** Logits after the prompt (one prefill batch) and after each greedy step, and the greedy tokens. */
async function run(bytes: Uint8Array, backend: "ref" | Backend): Promise<{ logits: Float32Array[]; tokens: number[] }> {
  const model = await loadModel(new BytesSource(bytes), { backend, kvType: "f32", contextSize: 64 });
  try {
    const s = model.createSession();
    const logits: Float32Array[] = [];
    const tokens: number[] = [];
    let l = await s.evaluate(PROMPT);
    for (let i = 0; i < STEPS; i++) {
      logits.push(l.slice());
      tokens.push(argmax(l));
      l = await s.evaluate([tokens.at(-1)!]);
    }
    return { logits, tokens };
  } finally {
    await model.dispose();
  }
}

const weightBytes = (b: Uint8Array) => b.byteLength; // an upper bound of the tensor bytes is enough

test("shard plan: one memory unless the weights need more; shard 0 keeps the reserve", () => {
  assert.equal(planShards({}).count, 1);
  assert.equal(planShards({ weightBytes: 2 ** 31, reserveBytes: 2 ** 28 }).count, 1);
  const big = planShards({ weightBytes: 4.9e9, reserveBytes: 2 ** 29 });
  assert.ok(big.count >= 2 && big.count <= 3, `${big.count}`);
  assert.ok(big.room0 + 2 ** 29 < 2 ** 32 && big.room0 > 3 * 2 ** 30);
  const tiny = planShards({ weightBytes: 1e6, shardWeightBytes: 192 << 10 });
  assert.ok(tiny.count >= 6 && tiny.xferBytes >= 16 << 10);
});

for (const [name, bytesOf, cap] of [
  ["stories260K (F32)", async () => stories, 192 << 10],
  ["synthetic Q4_K/Q6_K/Q8_0", synthetic, 160 << 10],
] as const) {
  test(`${name} over ≥ 3 wasm memories: logits identical to one memory, tokens equal to ref`, async () => {
    const bytes = await bytesOf();
    const ref = await run(bytes, "ref");
    for (const threads of [1, 2]) {
      const one = await createWasmBackend({ threads });
      assert.equal(one.shards, 1);
      const single = await run(bytes, one);
      const many = await createWasmBackend({ threads, weightBytes: weightBytes(bytes), shardWeightBytes: cap });
      assert.ok(many.shards >= 3, `${many.shards} memories`);
      let perShard: number[] = [];
      const spy: Backend = Object.create(many, { dispose: { value: () => { perShard = many.weightBytesPerShard; many.dispose(); } } });
      const sharded = await run(bytes, spy);
      assert.ok(perShard.filter((n) => n > 0).length >= 3, `weights per memory: ${perShard}`);
      assert.deepEqual(sharded.tokens, ref.tokens, `threads=${threads}: greedy tokens vs ref`);
      assert.deepEqual(single.tokens, ref.tokens, `threads=${threads}: single memory vs ref`);
      for (let i = 0; i < STEPS; i++) assert.deepEqual(sharded.logits[i], single.logits[i], `threads=${threads}, step ${i}`);
    }
  });
}

test("wasm weights load in slices: matrices never read whole, no slice over the staging area (4 MiB)", async () => {
  const bytes = await synthetic();
  const file = await readGguf(new BytesSource(bytes));
  const whole: string[] = [];
  let largest = 0, sliced = 0;
  const readTensor = file.readTensor.bind(file), readRange = file.readTensorRange.bind(file);
  file.readTensor = (name) => (whole.push(name), readTensor(name));
  file.readTensorRange = (name, offset, length) => ((largest = Math.max(largest, length)), sliced++, readRange(name, offset, length));
  const backend = await createWasmBackend({ threads: 1, weightBytes: bytes.byteLength, shardWeightBytes: 160 << 10 });
  const model = await loadModel(file, { backend, contextSize: 16 });
  try {
    assert.ok(whole.every((n) => !n.endsWith(".weight") || /norm/.test(n)), `read whole: ${whole.join(", ")}`);
    // Matrices in the capped shards go through their 16 KiB transfer areas: many slices each.
    const matrices = file.tensors.filter((t) => t.shape.length === 2).length;
    assert.ok(sliced > 2 * matrices, `${sliced} slices for ${matrices} matrices`);
    assert.ok(largest <= 4 << 20, `largest slice ${largest} bytes`);
    assert.equal((await model.createSession().evaluate([1, 2, 3])).length, 512);
  } finally {
    await model.dispose();
  }
});
