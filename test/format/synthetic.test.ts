import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { GgmlType } from "../../src/format/ggml.ts";
import { MemorySink, readGguf, writeGguf } from "../../src/format/gguf.ts";
import { BytesSource } from "../../src/format/source.ts";
import { Rng, syntheticLlama, syntheticSpmVocab } from "../../src/format/synthetic.ts";

async function build(opts: Parameters<typeof syntheticLlama>[0]): Promise<Uint8Array> {
  const sink = new MemorySink();
  await writeGguf(sink, syntheticLlama(opts));
  return sink.bytes();
}

test("tensor names, shapes and llama.* keys are what llama.cpp expects", async () => {
  const bytes = await build({ vocabSize: 300, dim: 32, layers: 3, heads: 4, kvHeads: 2, ffn: 48 });
  const f = await readGguf(new BytesSource(bytes));
  const shapes = Object.fromEntries(f.tensors.map((t) => [t.name, t.shape]));
  assert.equal(f.tensors.length, 3 + 3 * 9);
  assert.deepEqual(shapes["token_embd.weight"], [32, 300]);
  assert.deepEqual(shapes["output.weight"], [32, 300]);
  assert.deepEqual(shapes["output_norm.weight"], [32]);
  assert.deepEqual(shapes["blk.2.attn_q.weight"], [32, 32]);
  assert.deepEqual(shapes["blk.2.attn_k.weight"], [32, 16]);
  assert.deepEqual(shapes["blk.2.attn_v.weight"], [32, 16]);
  assert.deepEqual(shapes["blk.2.attn_output.weight"], [32, 32]);
  assert.deepEqual(shapes["blk.2.ffn_gate.weight"], [32, 48]);
  assert.deepEqual(shapes["blk.2.ffn_up.weight"], [32, 48]);
  assert.deepEqual(shapes["blk.2.ffn_down.weight"], [48, 32]);
  assert.deepEqual(shapes["blk.0.attn_norm.weight"], [32]);
  assert.deepEqual(shapes["blk.0.ffn_norm.weight"], [32]);
  const m = f.metadata;
  assert.equal(m.get("general.architecture"), "llama");
  assert.equal(m.get("llama.block_count"), 3);
  assert.equal(m.get("llama.embedding_length"), 32);
  assert.equal(m.get("llama.feed_forward_length"), 48);
  assert.equal(m.get("llama.attention.head_count"), 4);
  assert.equal(m.get("llama.attention.head_count_kv"), 2);
  assert.equal(m.get("llama.rope.dimension_count"), 8);
  assert.equal((m.get("tokenizer.ggml.tokens") as string[]).length, 300);
  assert.equal((m.get("tokenizer.ggml.tokens") as string[])[3 + 0x0a], "<0x0A>");
  assert.ok(f.tensors.every((t) => t.type === GgmlType.F32));
});

test("same seed, same bytes; another seed, other weights", async () => {
  const hash = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  const a = await build({ seed: 5, layers: 1 });
  const b = await build({ seed: 5, layers: 1 });
  const c = await build({ seed: 6, layers: 1 });
  assert.equal(hash(a), hash(b));
  assert.notEqual(hash(a), hash(c));
  assert.equal(a.byteLength, c.byteLength);
});

test("weights have the intended scale", async () => {
  const f = await readGguf(new BytesSource(await build({ seed: 3, layers: 1, dim: 64 })));
  const stats = async (name: string) => {
    const v = new Float32Array((await f.readTensor(name)).slice().buffer);
    const mean = v.reduce((a, x) => a + x, 0) / v.length;
    const sd = Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / v.length);
    return { mean, sd };
  };
  const q = await stats("blk.0.attn_q.weight");
  assert.ok(Math.abs(q.mean) < 0.005 && Math.abs(q.sd - 0.02) < 0.003, JSON.stringify(q));
  const n = await stats("blk.0.attn_norm.weight");
  assert.ok(Math.abs(n.mean - 1) < 0.05 && n.sd > 0.05 && n.sd < 0.15, JSON.stringify(n));
});

test("tied embeddings drop output.weight; F16/BF16 halve the bytes; block types go through quantize", async () => {
  const tied = await readGguf(new BytesSource(await build({ tiedEmbeddings: true, layers: 1 })));
  assert.equal(tied.tensor("output.weight"), undefined);
  for (const type of [GgmlType.F16, GgmlType.BF16]) {
    const f = await readGguf(new BytesSource(await build({ type, layers: 1 })));
    assert.equal(f.tensor("blk.0.attn_q.weight")!.type, type);
    assert.equal(f.tensor("blk.0.attn_q.weight")!.byteLength, 64 * 64 * 2);
    assert.equal(f.tensor("blk.0.attn_norm.weight")!.type, GgmlType.F32);
    assert.equal(f.metadata.get("general.file_type"), type === GgmlType.F16 ? 1 : 32);
  }
  const seen: string[] = [];
  const fakeQ8 = (type: number, x: Float32Array) => {
    seen.push(`${type}:${x.length}`);
    return new Uint8Array((x.length / 32) * 34);
  };
  const q = await readGguf(new BytesSource(await build({ type: GgmlType.Q8_0, quantize: fakeQ8, layers: 1 })));
  assert.equal(q.tensor("blk.0.ffn_down.weight")!.type, GgmlType.Q8_0);
  assert.equal(q.metadata.get("general.file_type"), 7);
  assert.ok(seen.includes(`${GgmlType.Q8_0}:${64 * 256}`));
  // Without an encoder of its own, quant.ts encodes the block types.
  const real = await readGguf(new BytesSource(await build({ type: GgmlType.Q8_0, layers: 1 })));
  assert.equal(real.tensor("blk.0.ffn_down.weight")!.type, GgmlType.Q8_0);
  assert.equal(real.tensor("blk.0.ffn_down.weight")!.byteLength, ((64 * 256) / 32) * 34);
});

test("vocabulary: unique tokens, byte tokens, bounds", () => {
  const v = syntheticSpmVocab(5000);
  assert.equal(new Set(v.tokens).size, 5000);
  assert.equal(v.tokens[3], "<0x00>");
  assert.equal(v.tokens[258], "<0xFF>");
  assert.deepEqual(v.types.slice(0, 4), [2, 3, 3, 6]);
  assert.throws(() => syntheticSpmVocab(100), RangeError);
  const r = new Rng(1);
  const xs = Array.from({ length: 20000 }, () => r.normal());
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  assert.ok(Math.abs(mean) < 0.03 && Math.abs(sd - 1) < 0.03);
});
