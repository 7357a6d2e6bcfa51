import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { UserError } from "../../src/errors.ts";
import { GgmlType } from "../../src/format/ggml.ts";
import { readGguf } from "../../src/format/gguf.ts";
import {
  hfConfigToMetadata, hfRopeFreqs, hfHparams, llama3RopeFactors, permuteQkRows, readHfFolder, unpermuteQkRows,
} from "../../src/format/hf.ts";
import type { ModelFile } from "../../src/format/model-file.ts";
import { BytesSource } from "../../src/format/source.ts";
import { safetensorsIndexJson, writeSafetensors, type SafetensorsTensorData } from "../../src/format/safetensors.ts";
import { nodeFolderFiles } from "../../src/node/hf-files.ts";
import { openModelFile } from "../../src/node/open.ts";
import { Model } from "../../src/engine/model.ts";
import { FIXTURES_URL } from "../fixtures-path.ts";

const FIXTURES = fileURLToPath(FIXTURES_URL);
const LLAMA3_TOK = join(FIXTURES, "tokenizer/llama3/");

const root = await mkdtemp(join(tmpdir(), "llamats-hf-"));
after(() => rm(root, { recursive: true, force: true }));

// ---- tiny deterministic weights ------------------------------------------------------------

let seed = 1;
function rand(): number {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 2 ** 32 - 0.5;
}
const F = new Float32Array(1), U = new Uint32Array(F.buffer);
const f32Bits = (x: number) => ((F[0] = x), U[0]!);
const f32FromBits = (b: number) => ((U[0] = b), F[0]!);

/** Values already representable in the given dtype, so the expected floats are exact. */
function values(n: number, dtype: string): number[] {
  return Array.from({ length: n }, () => {
    const x = Math.fround(rand());
    if (dtype === "BF16") return f32FromBits(f32Bits(x) & 0xffff0000);
    if (dtype === "F16") return Math.round(x * 1024) / 1024; // exact in f16 for |x| < 1
    return x;
  });
}

function encode(vals: number[], dtype: string): Uint8Array {
  if (dtype === "F32" || dtype === "I32") return new Uint8Array(new Float32Array(vals).buffer);
  const out = new Uint16Array(vals.length);
  vals.forEach((v, i) => {
    if (dtype === "BF16") out[i] = f32Bits(v) >>> 16;
    else {
      // v = k/1024 with |k| < 512: exponent and mantissa written out directly.
      if (v === 0) return void (out[i] = 0);
      const s = v < 0 ? 0x8000 : 0, a = Math.abs(v);
      const e = Math.floor(Math.log2(a));
      out[i] = s | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
    }
  });
  return new Uint8Array(out.buffer);
}

function decodeF32(bytes: Uint8Array): number[] {
  return [...new Float32Array(bytes.slice().buffer)];
}

interface HfTensor { name: string; dtype: string; shape: number[]; vals: number[] }

function makeTensor(name: string, dtype: string, shape: number[]): HfTensor {
  return { name, dtype, shape, vals: values(shape.reduce((a, b) => a * b, 1), dtype) };
}

const toData = (t: HfTensor): SafetensorsTensorData => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: encode(t.vals, t.dtype) });

/** Byte equality without deepEqual's per-element cost on multi-megabyte tensors. */
function sameBytes(a: Uint8Array, b: Uint8Array, msg?: string): void {
  assert.ok(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)), msg);
}

// ---- the converter's permute, written the plain way (reshape → swapaxes → reshape) ----------

function converterPermute(rows: number[][], nHead: number, nHeadKv?: number): number[][] {
  if (nHeadKv !== undefined && nHead !== nHeadKv) nHead = nHeadKv;
  const d = rows.length / nHead / 2;
  // reshape(n_head, 2, d, cols)
  const r4 = Array.from({ length: nHead }, (_, h) =>
    [0, 1].map((j) => Array.from({ length: d }, (_, i) => rows[h * 2 * d + j * d + i]!)));
  // swapaxes(1, 2) → (n_head, d, 2, cols), then reshape back
  return r4.flatMap((head) => Array.from({ length: d }, (_, i) => [head[0]![i]!, head[1]![i]!]).flat());
}

const asRows = (vals: number[], cols: number) => Array.from({ length: vals.length / cols }, (_, r) => vals.slice(r * cols, (r + 1) * cols));

// ---- a tiny Llama 3.1-style folder -----------------------------------------------------------

const N_EMBD = 16, N_HEAD = 4, N_KV = 2, HEAD_DIM = 128, N_FF = 24, N_LAYER = 2, VOCAB = 128256;

const llamaConfig = {
  architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: N_EMBD, intermediate_size: N_FF,
  num_attention_heads: N_HEAD, num_key_value_heads: N_KV, num_hidden_layers: N_LAYER, head_dim: HEAD_DIM,
  max_position_embeddings: 131072, rms_norm_eps: 1e-5, rope_theta: 500000.0, vocab_size: VOCAB,
  tie_word_embeddings: false, torch_dtype: "bfloat16", bos_token_id: 128000, eos_token_id: 128001,
  rope_scaling: { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: "llama3" },
};

const llamaCache = new Map<boolean, HfTensor[]>();
function llamaTensors(opts: { lmHead?: boolean } = {}): HfTensor[] {
  const lm = opts.lmHead !== false;
  if (!llamaCache.has(lm)) llamaCache.set(lm, makeLlamaTensors(lm));
  return llamaCache.get(lm)!;
}

function makeLlamaTensors(lmHead: boolean): HfTensor[] {
  seed = 7;
  const ts: HfTensor[] = [makeTensor("model.embed_tokens.weight", "BF16", [VOCAB, N_EMBD])];
  for (let l = 0; l < N_LAYER; l++) {
    const p = `model.layers.${l}.`;
    ts.push(
      makeTensor(p + "self_attn.q_proj.weight", "F32", [N_HEAD * HEAD_DIM, N_EMBD]),
      makeTensor(p + "self_attn.k_proj.weight", "BF16", [N_KV * HEAD_DIM, N_EMBD]),
      makeTensor(p + "self_attn.v_proj.weight", "F16", [N_KV * HEAD_DIM, N_EMBD]),
      makeTensor(p + "self_attn.o_proj.weight", "BF16", [N_EMBD, N_HEAD * HEAD_DIM]),
      makeTensor(p + "mlp.gate_proj.weight", "BF16", [N_FF, N_EMBD]),
      makeTensor(p + "mlp.up_proj.weight", "BF16", [N_FF, N_EMBD]),
      makeTensor(p + "mlp.down_proj.weight", "BF16", [N_EMBD, N_FF]),
      makeTensor(p + "input_layernorm.weight", "BF16", [N_EMBD]),
      makeTensor(p + "post_attention_layernorm.weight", "F16", [N_EMBD]),
      makeTensor(p + "self_attn.rotary_emb.inv_freq", "F32", [HEAD_DIM / 2]),
    );
  }
  ts.push(makeTensor("model.norm.weight", "F32", [N_EMBD]));
  if (lmHead) ts.push(makeTensor("lm_head.weight", "BF16", [VOCAB, N_EMBD]));
  return ts;
}

async function writeFolder(name: string, config: object, tensors: HfTensor[], shards = 1, tokenizer = true): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "config.json"), JSON.stringify(config, null, 2));
  if (tokenizer) {
    await writeFile(join(dir, "tokenizer.json"), gunzipSync(await readFile(join(LLAMA3_TOK, "tokenizer.json.gz"))));
    await writeFile(join(dir, "tokenizer_config.json"), await readFile(join(LLAMA3_TOK, "tokenizer_config.json")));
  }
  if (shards === 1) {
    await writeFile(join(dir, "model.safetensors"), writeSafetensors(tensors.map(toData), { format: "pt" }));
  } else {
    const weightMap = new Map<string, string>();
    let total = 0;
    for (let s = 0; s < shards; s++) {
      const fname = `model-0000${s + 1}-of-0000${shards}.safetensors`;
      const part = tensors.filter((_, i) => i % shards === s);
      for (const t of part) weightMap.set(t.name, fname);
      const bytes = writeSafetensors(part.map(toData), { format: "pt" });
      total += bytes.length;
      await writeFile(join(dir, fname), bytes);
    }
    await writeFile(join(dir, "model.safetensors.index.json"), safetensorsIndexJson(weightMap, total));
  }
  return dir;
}

const byName = (ts: HfTensor[], name: string) => ts.find((t) => t.name === name)!;

// Llama 3.1 8B's factors for head_dim 128, theta 500000, factor 8, low 1, high 4, original 8192,
// from the converter's formula evaluated in double precision (Python): frequencies 0..28 keep 1,
// 35..63 get 8, and the six between are blended.
const LLAMA31_MIDDLE = [1.207483871283662, 1.5534146285049255, 2.0263132059050557, 2.6945296878947333, 3.684252527745718, 5.257326588708467];

function checkLlama31Factors(got: ArrayLike<number>): void {
  assert.equal(got.length, 64);
  for (let i = 0; i < 64; i++) {
    const want = i < 29 ? 1 : i >= 35 ? 8 : LLAMA31_MIDDLE[i - 29]!;
    // float32 against the double-precision formula: within a few ulps.
    assert.ok(Math.abs(got[i]! - want) <= 4e-7 * want, `rope factor ${i}: ${got[i]} vs ${want}`);
  }
}

test("llama3 rope factors match the converter's formula on Llama 3.1 8B's settings", () => {
  checkLlama31Factors(llama3RopeFactors({ headDim: 128, ropeTheta: 500000, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 }));

  // A direct double-precision evaluation of the same formula on other inputs (Llama 3.2: factor 32).
  const direct = (dim: number, base: number, factor: number, low: number, high: number, old: number) =>
    Array.from({ length: dim / 2 }, (_, k) => {
      const freq = 1 / base ** ((2 * k) / dim);
      const wavelen = (2 * Math.PI) / freq;
      if (wavelen < old / high) return 1;
      if (wavelen > old / low) return factor;
      const smooth = (old / wavelen - low) / (high - low);
      return 1 / ((1 - smooth) / factor + smooth);
    });
  for (const [dim, base, factor, low, high, old] of [[64, 500000, 32, 1, 4, 8192], [128, 10000, 4, 2, 8, 4096]] as const) {
    const want = direct(dim, base, factor, low, high, old);
    const got = llama3RopeFactors({ headDim: dim, ropeTheta: base, factor, lowFreqFactor: low, highFreqFactor: high, originalContext: old });
    assert.ok(want.some((w) => w !== 1 && w !== factor), "inputs exercise the blended band");
    want.forEach((w, k) => assert.ok(Math.abs(got[k]! - w) <= 4e-7 * w, `dim ${dim} factor ${k}: ${got[k]} vs ${w}`));
  }

  // Not asked for → no tensor; asked for through transformers 5's rope_parameters → same values.
  const hp = hfHparams(llamaConfig);
  assert.equal(hfRopeFreqs({ ...llamaConfig, rope_scaling: undefined }, hp), undefined);
  const { rope_scaling, rope_theta, ...rest } = llamaConfig;
  checkLlama31Factors(hfRopeFreqs({ ...rest, rope_parameters: { ...rope_scaling, rope_theta } }, hp)!);
});

test("permuteQkRows equals the converter's permute and unpermuteQkRows inverts it", () => {
  for (const [rowsN, cols, nHead] of [[8, 3, 2], [16, 1, 4], [12, 5, 1], [24, 2, 3]] as const) {
    const vals = Array.from({ length: rowsN * cols }, (_, i) => i + 0.5);
    const src = new Uint8Array(new Float32Array(vals).buffer);
    const got = permuteQkRows(src, nHead, cols * 4);
    assert.deepEqual(decodeF32(got), converterPermute(asRows(vals, cols), nHead).flat());
    assert.deepEqual(unpermuteQkRows(got, nHead, cols * 4), src);
  }
  // A 1-row-per-element bias (qwen2-style shape) with the converter's n_head_kv override.
  const bias = Array.from({ length: 8 }, (_, i) => i);
  assert.deepEqual(
    decodeF32(permuteQkRows(new Uint8Array(new Float32Array(bias).buffer), 2, 4)),
    converterPermute(asRows(bias, 1), 4, 2).flat(),
  );
  assert.deepEqual(converterPermute(asRows(bias, 1), 2).flat(), [0, 2, 1, 3, 4, 6, 5, 7]);
});

async function checkLlamaFolder(mf: ModelFile, hf: HfTensor[]): Promise<void> {
  assert.equal(mf.format, "safetensors");
  const md = mf.metadata;
  const expected: Record<string, unknown> = {
    "general.architecture": "llama",
    "general.type": "model",
    "llama.block_count": N_LAYER,
    "llama.context_length": 131072,
    "llama.embedding_length": N_EMBD,
    "llama.feed_forward_length": N_FF,
    "llama.attention.head_count": N_HEAD,
    "llama.attention.head_count_kv": N_KV,
    "llama.rope.freq_base": 500000,
    "llama.attention.layer_norm_rms_epsilon": Math.fround(1e-5),
    "llama.attention.key_length": HEAD_DIM,
    "llama.attention.value_length": HEAD_DIM,
    "llama.vocab_size": VOCAB,
    "llama.rope.dimension_count": HEAD_DIM,
    "general.file_type": 32, // first matrix is BF16 → MOSTLY_BF16
    "general.quantization_version": 2,
  };
  for (const [k, v] of Object.entries(expected)) assert.deepEqual(md.get(k), v, k);
  assert.equal(md.get("llama.rope.scaling.type"), undefined, "llama3 scaling travels as rope_freqs, not a scaling type");

  const names = mf.tensors.map((t) => t.name);
  const blk = (l: number) => ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down", "attn_norm", "ffn_norm"]
    .map((p) => `blk.${l}.${p}.weight`).sort();
  assert.deepEqual(names, ["rope_freqs.weight", "token_embd.weight", ...blk(0), ...blk(1), "output_norm.weight", "output.weight"]);
  const info = (n: string) => mf.tensors.find((t) => t.name === n)!;
  assert.deepEqual([info("token_embd.weight").shape, info("token_embd.weight").type], [[N_EMBD, VOCAB], GgmlType.BF16]);
  assert.deepEqual([info("blk.1.attn_q.weight").shape, info("blk.1.attn_q.weight").type], [[N_EMBD, N_HEAD * HEAD_DIM], GgmlType.F32]);
  assert.deepEqual([info("blk.1.attn_k.weight").shape, info("blk.1.attn_k.weight").type], [[N_EMBD, N_KV * HEAD_DIM], GgmlType.BF16]);
  assert.deepEqual([info("blk.0.attn_v.weight").shape, info("blk.0.attn_v.weight").type], [[N_EMBD, N_KV * HEAD_DIM], GgmlType.F16]);
  assert.deepEqual(info("blk.0.attn_output.weight").shape, [N_HEAD * HEAD_DIM, N_EMBD]);
  assert.deepEqual(info("blk.0.ffn_down.weight").shape, [N_FF, N_EMBD]);
  assert.deepEqual([info("blk.0.attn_norm.weight").shape, info("blk.0.attn_norm.weight").type], [[N_EMBD], GgmlType.F32]);
  assert.deepEqual([info("rope_freqs.weight").shape, info("rope_freqs.weight").type], [[HEAD_DIM / 2], GgmlType.F32]);
  for (const t of mf.tensors) {
    assert.equal(t.elements, t.shape.reduce((a, b) => a * b, 1));
    assert.equal((await mf.readTensor(t.name)).byteLength, t.byteLength, t.name);
  }

  checkLlama31Factors(decodeF32(await mf.readTensor("rope_freqs.weight")));

  // Q uses n_head, K n_head_kv; both against the plain permute, and the inverse gives HF back.
  const q = byName(hf, "model.layers.1.self_attn.q_proj.weight");
  const qBytes = await mf.readTensor("blk.1.attn_q.weight");
  assert.deepEqual(decodeF32(qBytes), converterPermute(asRows(q.vals, N_EMBD), N_HEAD, N_HEAD).flat());
  sameBytes(unpermuteQkRows(qBytes, N_HEAD, N_EMBD * 4), encode(q.vals, "F32"));
  const k = byName(hf, "model.layers.1.self_attn.k_proj.weight");
  const kBytes = await mf.readTensor("blk.1.attn_k.weight");
  const kRows = converterPermute(asRows(k.vals, N_EMBD), N_HEAD, N_KV);
  sameBytes(kBytes, encode(kRows.flat(), "BF16"));
  assert.notDeepEqual(kBytes, encode(k.vals, "BF16"));
  sameBytes(unpermuteQkRows(kBytes, N_KV, N_EMBD * 2), encode(k.vals, "BF16"));

  // Everything else is the checkpoint's bytes; 1-D tensors are widened to F32 exactly.
  for (const [gguf, hfName] of [
    ["token_embd.weight", "model.embed_tokens.weight"], ["blk.0.attn_v.weight", "model.layers.0.self_attn.v_proj.weight"],
    ["blk.1.ffn_down.weight", "model.layers.1.mlp.down_proj.weight"], ["output.weight", "lm_head.weight"],
  ] as const) {
    const t = byName(hf, hfName);
    sameBytes(await mf.readTensor(gguf), encode(t.vals, t.dtype), gguf);
  }
  assert.deepEqual(decodeF32(await mf.readTensor("blk.0.attn_norm.weight")), byName(hf, "model.layers.0.input_layernorm.weight").vals);
  assert.deepEqual(decodeF32(await mf.readTensor("blk.1.ffn_norm.weight")), byName(hf, "model.layers.1.post_attention_layernorm.weight").vals);
  assert.deepEqual(decodeF32(await mf.readTensor("output_norm.weight")), byName(hf, "model.norm.weight").vals);
  await assert.rejects(mf.readTensor("blk.9.attn_q.weight"), UserError);
}

test("a tiny Llama 3.1-style folder opens as the ModelFile the converter would write", async () => {
  const hf = llamaTensors();
  const dir = await writeFolder("llama", llamaConfig, hf);
  const mf = await openModelFile(dir);
  try {
    assert.equal(mf.name, dir);
    assert.equal(mf.metadata.get("general.name"), "llama");
    await checkLlamaFolder(mf, hf);

    // Tokenizer keys equal those gguf-py wrote from the same tokenizer.json + tokenizer_config.json.
    const vocabGguf = await readGguf(new BytesSource(
      gunzipSync(await readFile(join(FIXTURES, "tokenizer/llama-bpe/ggml-vocab-llama3-bpe.derived.gguf.gz"))), "llama3-vocab.gguf"));
    const tokKeys = [...vocabGguf.metadata.keys()].filter((k) => k.startsWith("tokenizer."));
    assert.ok(tokKeys.includes("tokenizer.ggml.merges") && tokKeys.includes("tokenizer.chat_template"));
    for (const k of tokKeys) assert.deepEqual(mf.metadata.get(k), vocabGguf.metadata.get(k), k);
    assert.equal((mf.metadata.get("tokenizer.ggml.tokens") as string[]).length, VOCAB);
  } finally {
    await mf.close();
  }
});

test("the same model in three shards with model.safetensors.index.json gives the same ModelFile", async () => {
  const hf = llamaTensors();
  const dir = await writeFolder("llama-sharded", llamaConfig, hf, 3, false);
  const mf = await readHfFolder(nodeFolderFiles(dir), dir);
  try {
    await checkLlamaFolder(mf, hf);
  } finally {
    await mf.close();
  }
});

test("tie_word_embeddings: no output.weight, even when the checkpoint carries lm_head", async () => {
  const cfg = { ...llamaConfig, tie_word_embeddings: true, rope_scaling: undefined };
  for (const lmHead of [false, true]) {
    const dir = await writeFolder(`tied-${lmHead}`, cfg, llamaTensors({ lmHead }), 1, false);
    const mf = await openModelFile(dir);
    assert.ok(!mf.tensors.some((t) => t.name === "output.weight" || t.name === "rope_freqs.weight"));
    assert.ok(mf.tensors.some((t) => t.name === "token_embd.weight"));
    await mf.close();
  }
});

test("qwen2: q/k/v biases, qwen2.* keys, and no Q/K permutation (NEOX rope)", async () => {
  seed = 99;
  const E = 8, H = 2, KV = 1, HD = 4, FF = 12, V = 32;
  const ts: HfTensor[] = [makeTensor("model.embed_tokens.weight", "BF16", [V, E])];
  const p = "model.layers.0.";
  ts.push(
    makeTensor(p + "self_attn.q_proj.weight", "BF16", [H * HD, E]), makeTensor(p + "self_attn.q_proj.bias", "BF16", [H * HD]),
    makeTensor(p + "self_attn.k_proj.weight", "BF16", [KV * HD, E]), makeTensor(p + "self_attn.k_proj.bias", "BF16", [KV * HD]),
    makeTensor(p + "self_attn.v_proj.weight", "BF16", [KV * HD, E]), makeTensor(p + "self_attn.v_proj.bias", "BF16", [KV * HD]),
    makeTensor(p + "self_attn.o_proj.weight", "BF16", [E, H * HD]),
    makeTensor(p + "mlp.gate_proj.weight", "BF16", [FF, E]), makeTensor(p + "mlp.up_proj.weight", "BF16", [FF, E]),
    makeTensor(p + "mlp.down_proj.weight", "BF16", [E, FF]),
    makeTensor(p + "input_layernorm.weight", "BF16", [E]), makeTensor(p + "post_attention_layernorm.weight", "BF16", [E]),
    makeTensor("model.norm.weight", "BF16", [E]),
  );
  const cfg = {
    architectures: ["Qwen2ForCausalLM"], hidden_size: E, intermediate_size: FF, num_attention_heads: H, num_key_value_heads: KV,
    num_hidden_layers: 1, max_position_embeddings: 32768, rms_norm_eps: 1e-6, rope_theta: 1000000.0, vocab_size: V,
    tie_word_embeddings: true, sliding_window: 32768, use_sliding_window: false,
  };
  const dir = await writeFolder("qwen2", cfg, ts, 1, false);
  // Qwen2's embedding has more rows than the tokenizer has tokens; the converter pads the list.
  await writeFile(join(dir, "tokenizer.json"), JSON.stringify({
    model: { type: "BPE", vocab: { a: 0, b: 1, ab: 2 }, merges: ["a b"] },
    pre_tokenizer: { type: "ByteLevel" }, decoder: { type: "ByteLevel" },
    added_tokens: [{ id: 3, content: "<|endoftext|>", special: true }],
  }));
  const mf = await openModelFile(dir);
  try {
    const md = mf.metadata;
    assert.equal(md.get("general.architecture"), "qwen2");
    assert.equal(md.get("qwen2.block_count"), 1);
    assert.equal(md.get("qwen2.attention.head_count_kv"), KV);
    assert.equal(md.get("qwen2.rope.freq_base"), 1000000);
    assert.equal(md.get("qwen2.attention.layer_norm_rms_epsilon"), Math.fround(1e-6));
    assert.equal(md.get("qwen2.context_length"), 32768);
    assert.ok(![...md.keys()].some((k) => k.startsWith("llama.")));
    // The converter's Qwen2 class writes neither of these (llama.cpp derives them).
    assert.equal(md.get("qwen2.vocab_size"), undefined);
    assert.equal(md.get("qwen2.rope.dimension_count"), undefined);
    assert.equal(md.get("tokenizer.ggml.model"), "gpt2");
    const tokens = md.get("tokenizer.ggml.tokens") as string[];
    assert.deepEqual(tokens.slice(0, 5), ["a", "b", "ab", "<|endoftext|>", "[PAD4]"]);
    assert.equal(tokens.length, V);
    assert.deepEqual((md.get("tokenizer.ggml.token_type") as number[]).slice(2), [1, 3, ...Array(V - 4).fill(5)]);

    assert.deepEqual(mf.tensors.map((t) => t.name), [
      "token_embd.weight", "blk.0.attn_k.bias", "blk.0.attn_k.weight", "blk.0.attn_norm.weight", "blk.0.attn_output.weight",
      "blk.0.attn_q.bias", "blk.0.attn_q.weight", "blk.0.attn_v.bias", "blk.0.attn_v.weight", "blk.0.ffn_down.weight",
      "blk.0.ffn_gate.weight", "blk.0.ffn_norm.weight", "blk.0.ffn_up.weight", "output_norm.weight",
    ]);
    const q = byName(ts, p + "self_attn.q_proj.weight");
    assert.deepEqual(await mf.readTensor("blk.0.attn_q.weight"), encode(q.vals, "BF16"));
    assert.deepEqual(await mf.readTensor("blk.0.attn_k.weight"), encode(byName(ts, p + "self_attn.k_proj.weight").vals, "BF16"));
    const qb = mf.tensors.find((t) => t.name === "blk.0.attn_q.bias")!;
    assert.deepEqual([qb.shape, qb.type], [[H * HD], GgmlType.F32]);
    assert.deepEqual(decodeF32(await mf.readTensor("blk.0.attn_q.bias")), byName(ts, p + "self_attn.q_proj.bias").vals);
  } finally {
    await mf.close();
  }
});

test("linear and yarn rope scaling map to rope.scaling.* keys", () => {
  const base = { ...llamaConfig, rope_scaling: undefined };
  const lin = hfConfigToMetadata({ ...base, rope_scaling: { type: "linear", factor: 2.5 } }, "m", 1);
  assert.equal(lin.get("llama.rope.scaling.type"), "linear");
  assert.equal(lin.get("llama.rope.scaling.factor"), 2.5);
  const yarn = hfConfigToMetadata({
    ...base, rope_scaling: { rope_type: "yarn", factor: 4.0, original_max_position_embeddings: 32768, beta_fast: 32, beta_slow: 1, attention_factor: 0.1 },
  }, "m", 1);
  assert.equal(yarn.get("llama.rope.scaling.type"), "yarn");
  assert.equal(yarn.get("llama.rope.scaling.factor"), 4);
  assert.equal(yarn.get("llama.rope.scaling.original_context_length"), 32768);
  assert.equal(yarn.get("llama.rope.scaling.yarn_beta_fast"), 32);
  assert.equal(yarn.get("llama.rope.scaling.yarn_beta_slow"), 1);
  assert.equal(yarn.get("llama.rope.scaling.yarn_attn_factor"), Math.fround(0.1));
  assert.equal(yarn.get("llama.rope.scaling.yarn_ext_factor"), undefined);
  const none = hfConfigToMetadata(base, "m", 0);
  assert.ok(![...none.keys()].some((k) => k.includes("scaling")));
  assert.equal(none.get("general.file_type"), 0);
  const dyn = hfConfigToMetadata({ ...base, rope_scaling: { rope_type: "dynamic", factor: 2 } }, "m", 1);
  assert.ok(![...dyn.keys()].some((k) => k.includes("scaling")), "like the converter, unknown scaling types write nothing");
});

test("user errors: unsupported architecture, bad config, unknown tensors, wrong Q rows", async () => {
  const tiny = { ...llamaConfig, rope_scaling: undefined };
  const cases: Array<[string, object | string | undefined, HfTensor[] | undefined, RegExp]> = [
    ["gpt2", { ...tiny, architectures: ["GPT2LMHeadModel"] }, undefined, /config\.json: architecture "GPT2LMHeadModel" is not supported/],
    ["mixtral", { ...tiny, architectures: ["MixtralForCausalLM"] }, undefined, /architecture "MixtralForCausalLM" is not supported/],
    ["noarch", { ...tiny, architectures: undefined }, undefined, /has no "architectures" list/],
    ["badjson", "{ not json", undefined, /config\.json: is not valid JSON/],
    ["noconfig", undefined, undefined, /no config\.json/],
    ["badheads", { ...tiny, num_attention_heads: 0 }, undefined, /"num_attention_heads" must be a positive integer, got 0/],
    ["badgqa", { ...tiny, num_key_value_heads: 3 }, undefined, /num_attention_heads 4 is not a multiple of num_key_value_heads 3/],
    ["unknown", tiny, [...llamaTensors(), makeTensor("model.layers.0.mlp.experts.0.w1.weight", "F32", [2])],
      /tensor "model\.layers\.0\.mlp\.experts\.0\.w1\.weight" has no GGUF equivalent for LlamaForCausalLM/],
    ["badlayer", tiny, [...llamaTensors(), makeTensor("model.layers.7.mlp.up_proj.weight", "F32", [2])], /model\.layers\.7\.mlp\.up_proj\.weight" has no GGUF equivalent/],
    ["int", tiny, [...llamaTensors(), makeTensor("model.layers.0.mlp.up_proj.bias", "F32", [1])].map((t) =>
      t.name.endsWith("up_proj.bias") ? { ...t, dtype: "I32" } : t), /up_proj\.bias" has dtype I32; llamats reads only F32, F16, BF16/],
    ["qrows", tiny, llamaTensors().map((t) => t.name === "model.layers.0.self_attn.q_proj.weight" ? makeTensor(t.name, "F32", [8, N_EMBD]) : t),
      /q_proj\.weight" has 8 rows, expected 4 heads × 128/],
  ];
  for (const [name, cfg, tensors, pattern] of cases) {
    const dir = join(root, `err-${name}`);
    await mkdir(dir, { recursive: true });
    if (cfg !== undefined) await writeFile(join(dir, "config.json"), typeof cfg === "string" ? cfg : JSON.stringify(cfg));
    await writeFile(join(dir, "model.safetensors"), writeSafetensors((tensors ?? llamaTensors().slice(0, 3)).map(toData)));
    await assert.rejects(openModelFile(dir), (e: unknown) => {
      assert.ok(e instanceof UserError, `${name}: expected UserError, got ${String(e)}`);
      assert.match(e.message, pattern, name);
      return true;
    });
  }
  // A shard name that tries to leave the folder is refused by the Node adapter as well.
  await assert.rejects(nodeFolderFiles(root).open("../etc/passwd"), UserError);
});

test("permuted Q/K under GGUF's adjacent-pair rope give HF's rotate-half attention scores", () => {
  // The point of the permutation: llama.cpp rotates pairs (2i, 2i+1), transformers rotates
  // (i, i + d/2). With permuted weights both must produce the same q·k for every head and position.
  const d = 8, nHead = 4, nKv = 2, nEmbd = 6, base = 10000;
  seed = 3;
  const wq = Array.from({ length: nHead * d * nEmbd }, rand), wk = Array.from({ length: nKv * d * nEmbd }, rand);
  const x1 = Array.from({ length: nEmbd }, rand), x2 = Array.from({ length: nEmbd }, rand);
  const matvec = (w: number[], x: number[]) => asRows(w, nEmbd).map((r) => r.reduce((s, v, i) => s + v * x[i]!, 0));
  const ropeHf = (v: number[], pos: number) => v.map((_, j) => {
    const h = Math.floor(j / d), i = j % d, k = i % (d / 2), th = pos * base ** ((-2 * k) / d);
    const a = v[h * d + k]!, b = v[h * d + k + d / 2]!;
    return i < d / 2 ? a * Math.cos(th) - b * Math.sin(th) : b * Math.cos(th) + a * Math.sin(th);
  });
  const ropeGguf = (v: number[], pos: number) => v.map((_, j) => {
    const h = Math.floor(j / d), i = j % d, k = i >> 1, th = pos * base ** ((-2 * k) / d);
    const a = v[h * d + 2 * k]!, b = v[h * d + 2 * k + 1]!;
    return i % 2 === 0 ? a * Math.cos(th) - b * Math.sin(th) : a * Math.sin(th) + b * Math.cos(th);
  });
  const f64 = (vals: number[]) => new Uint8Array(new Float64Array(vals).buffer);
  const unf64 = (b: Uint8Array) => [...new Float64Array(b.slice().buffer)];
  const wqG = unf64(permuteQkRows(f64(wq), nHead, nEmbd * 8)), wkG = unf64(permuteQkRows(f64(wk), nKv, nEmbd * 8));
  const scores = (q: number[], k: number[]) =>
    Array.from({ length: nHead }, (_, h) => {
      const kh = Math.floor(h / (nHead / nKv));
      return q.slice(h * d, (h + 1) * d).reduce((s, v, i) => s + v * k[kh * d + i]!, 0);
    });
  for (const [pq, pk] of [[0, 0], [5, 2], [17, 16], [300, 7]] as const) {
    const hf = scores(ropeHf(matvec(wq, x1), pq), ropeHf(matvec(wk, x2), pk));
    const gg = scores(ropeGguf(matvec(wqG, x1), pq), ropeGguf(matvec(wkG, x2), pk));
    hf.forEach((s, h) => assert.ok(Math.abs(s - gg[h]!) < 1e-12, `pos ${pq}/${pk} head ${h}: ${s} vs ${gg[h]}`));
    // Without the permutation the scores differ (the test can fail).
    const wrong = scores(ropeGguf(matvec(wq, x1), pq), ropeGguf(matvec(wk, x2), pk));
    if (pq !== pk) assert.ok(hf.some((s, h) => Math.abs(s - wrong[h]!) > 1e-6));
  }
});

test("stories260K written as an HF folder loads and tells the known story", async () => {
  const gguf = await openModelFile(join(FIXTURES, "models/stories260K.gguf"));
  const md = gguf.metadata;
  const nHead = md.get("llama.attention.head_count") as number, nKv = md.get("llama.attention.head_count_kv") as number;
  const hfName = (n: string) => {
    const inv: Record<string, string> = {
      "token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight",
    };
    if (inv[n]) return inv[n];
    const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(n)!;
    const part: Record<string, string> = {
      attn_q: "self_attn.q_proj", attn_k: "self_attn.k_proj", attn_v: "self_attn.v_proj", attn_output: "self_attn.o_proj",
      ffn_gate: "mlp.gate_proj", ffn_up: "mlp.up_proj", ffn_down: "mlp.down_proj", attn_norm: "input_layernorm", ffn_norm: "post_attention_layernorm",
    };
    return `model.layers.${m[1]}.${part[m[2]!]}.weight`;
  };
  const tensors: SafetensorsTensorData[] = [];
  for (const t of gguf.tensors) {
    let data = await gguf.readTensor(t.name);
    if (t.name.endsWith("attn_q.weight")) data = unpermuteQkRows(data, nHead, t.shape[0]! * 4);
    if (t.name.endsWith("attn_k.weight")) data = unpermuteQkRows(data, nKv, t.shape[0]! * 4);
    tensors.push({ name: hfName(t.name), dtype: "F32", shape: [...t.shape].reverse(), data });
  }
  const dir = join(root, "stories260K");
  await mkdir(dir);
  await writeFile(join(dir, "model.safetensors"), writeSafetensors(tensors));
  await writeFile(join(dir, "config.json"), JSON.stringify({
    architectures: ["LlamaForCausalLM"], hidden_size: 64, intermediate_size: 172, num_attention_heads: nHead, num_key_value_heads: nKv,
    num_hidden_layers: 5, max_position_embeddings: 2048, rms_norm_eps: 1e-5, vocab_size: 512, tie_word_embeddings: false,
  }));
  const hf = await openModelFile(dir);
  try {
    for (const [k, v] of md) if (k.startsWith("llama.")) assert.deepEqual(hf.metadata.get(k), v, k);
    for (const t of gguf.tensors) {
      const h = hf.tensors.find((x) => x.name === t.name)!;
      assert.deepEqual([h.shape, h.type], [t.shape, t.type], t.name);
      sameBytes(await hf.readTensor(t.name), await gguf.readTensor(t.name), t.name);
    }
    // The folder has no tokenizer.json (the model ships a SentencePiece vocabulary), so lend it the GGUF's.
    const metadata = new Map(hf.metadata);
    for (const [k, v] of md) if (k.startsWith("tokenizer.")) metadata.set(k, v);
    const model = await Model.load({ ...hf, metadata, readTensor: (n) => hf.readTensor(n), close: () => hf.close() }, { kvType: "f32", contextSize: 128 });
    try {
      const expected = JSON.parse(await readFile(join(FIXTURES, "models/stories260K.expected.json"), "utf8"));
      const c = expected.cases.find((x: { prompt_tokens: number[] }) => x.prompt_tokens.length > 1);
      const want = (c.generated_tokens as number[]).slice(0, 40);
      const gen = model.generate(c.prompt_tokens, { temperature: 0, maxTokens: want.length });
      await gen.text();
      assert.deepEqual(gen.stats.generatedTokens, want);
    } finally {
      await model.dispose();
    }
  } finally {
    await hf.close();
    await gguf.close();
  }
});
