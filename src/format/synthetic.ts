// Random-weight Llama models of any shape, as GGUF writer input: test fixtures and benchmark
// models that llama.cpp loads (tensor names, shapes and llama.* keys exactly as it expects), built
// deterministically from a seed so that two runs produce the same bytes.

import { quantize } from "./quant.ts";
import { GgmlType } from "./ggml.ts";
import { GgufValueType } from "./gguf.ts";
import type { GgufType, GgufWriteInput, GgufWriteTensor } from "./gguf.ts";
import type { MetaValue } from "./model-file.ts";

export interface SyntheticLlamaOptions {
  /** Vocabulary size, at least 262 (3 specials + 256 byte tokens + a few pieces). Default 512. */
  readonly vocabSize?: number;
  /** embedding_length. Default 64. */
  readonly dim?: number;
  /** block_count. Default 2. */
  readonly layers?: number;
  /** attention.head_count. Default 4. */
  readonly heads?: number;
  /** attention.head_count_kv. Default = heads. */
  readonly kvHeads?: number;
  /** feed_forward_length. Default 4·dim. */
  readonly ffn?: number;
  /** context_length. Default 512. */
  readonly contextLength?: number;
  /** No output.weight: llama.cpp then reuses token_embd.weight. Default false. */
  readonly tiedEmbeddings?: boolean;
  /**
   * Tensor types: one type for every 2-D weight (norms stay F32), or a function choosing per
   * tensor (called for every tensor, norms included). Default F32.
   */
  readonly type?: GgmlType | ((name: string, shape: readonly number[]) => GgmlType);
  /** Encoder from f32 to a tensor type; default quant.ts `quantize` (every type it knows). */
  readonly quantize?: (type: GgmlType, f32: Float32Array) => Uint8Array;
  readonly seed?: number;
  /** Standard deviation of weight matrices. Default 0.02 (the usual init); the embedding uses 1. */
  readonly std?: number;
  readonly ropeFreqBase?: number;
  readonly rmsEps?: number;
  readonly name?: string;
}

/** llama.cpp `general.file_type` for a model whose main matrices have this type. */
const FILE_TYPE: Partial<Record<number, number>> = {
  [GgmlType.F32]: 0, [GgmlType.F16]: 1, [GgmlType.Q4_0]: 2, [GgmlType.Q4_1]: 3, [GgmlType.Q8_0]: 7,
  [GgmlType.Q5_0]: 8, [GgmlType.Q5_1]: 9, [GgmlType.Q2_K]: 10, [GgmlType.Q3_K]: 12, [GgmlType.Q4_K]: 15,
  [GgmlType.Q5_K]: 17, [GgmlType.Q6_K]: 18, [GgmlType.BF16]: 32,
};

/** splitmix32: spreads a seed into well-mixed 32-bit states. */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** sfc32 generator with a Box–Muller normal: small, fast, and identical on every platform. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d = 1;
  #spare: number | undefined;

  constructor(seed: number) {
    this.#a = mix32(seed);
    this.#b = mix32(this.#a ^ 0x1234567);
    this.#c = mix32(this.#b ^ 0x7654321);
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 0x100000000;
  }

  normal(): number {
    if (this.#spare !== undefined) {
      const s = this.#spare;
      this.#spare = undefined;
      return s;
    }
    const u = 1 - this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

/**
 * An SPM ("llama") vocabulary: <unk>, <s>, </s>, the 256 byte-fallback tokens llama.cpp needs
 * (it looks up <0x0A> at load time), then single characters and character pairs, with and
 * without the ▁ word marker, scored so that earlier pieces merge first.
 */
export function syntheticSpmVocab(size: number): { tokens: string[]; scores: number[]; types: number[] } {
  if (!Number.isInteger(size) || size < 262) throw new RangeError(`synthetic vocabulary needs at least 262 tokens, got ${size}`);
  const tokens = ["<unk>", "<s>", "</s>"];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(6);
  }
  const firstPiece = tokens.length;
  const alphabet = "etaoinshrdlucmfwypvbgkjqxzETAOINSHRDLUCMFWYPVBGKJQXZ0123456789.,!?'-";
  const pieces = function* (): Generator<string> {
    yield "▁";
    for (const c of alphabet) {
      yield `▁${c}`;
      yield c;
    }
    for (const c1 of alphabet) {
      for (const c2 of alphabet) {
        yield `${c1}${c2}`;
        yield `▁${c1}${c2}`;
      }
    }
    // From 10 on, so that no word collides with a two-character piece such as "▁w0".
    for (let n = 10; ; n++) yield `▁w${n}`;
  };
  const it = pieces();
  while (tokens.length < size) {
    tokens.push(it.next().value as string);
    types.push(1);
  }
  const scores = tokens.map((_, i) => (i < firstPiece ? 0 : -(i - firstPiece)));
  return { tokens, scores, types };
}


/** Writer input for a random-weight `llama` model; tensor bytes are generated as the writer asks. */
export function syntheticLlama(opts: SyntheticLlamaOptions = {}): GgufWriteInput {
  const vocab = opts.vocabSize ?? 512;
  const dim = opts.dim ?? 64;
  const layers = opts.layers ?? 2;
  const heads = opts.heads ?? 4;
  const kvHeads = opts.kvHeads ?? heads;
  const ffn = opts.ffn ?? 4 * dim;
  const ctx = opts.contextLength ?? 512;
  const std = opts.std ?? 0.02;
  const seed = opts.seed ?? 1;
  if (dim % heads !== 0) throw new RangeError(`dim ${dim} is not a multiple of heads ${heads}`);
  if (heads % kvHeads !== 0) throw new RangeError(`heads ${heads} is not a multiple of kvHeads ${kvHeads}`);
  const headDim = dim / heads;
  if (headDim % 2 !== 0) throw new RangeError(`head dimension ${headDim} must be even for RoPE`);

  const typeOf = (name: string, shape: readonly number[]): GgmlType => {
    const t = opts.type ?? GgmlType.F32;
    if (typeof t === "function") return t(name, shape);
    return shape.length === 1 ? GgmlType.F32 : t;
  };

  const specs: { name: string; shape: number[]; init: "norm" | "embed" | "matrix" }[] = [];
  specs.push({ name: "token_embd.weight", shape: [dim, vocab], init: "embed" });
  specs.push({ name: "output_norm.weight", shape: [dim], init: "norm" });
  if (!opts.tiedEmbeddings) specs.push({ name: "output.weight", shape: [dim, vocab], init: "matrix" });
  for (let l = 0; l < layers; l++) {
    const p = `blk.${l}.`;
    specs.push(
      { name: `${p}attn_norm.weight`, shape: [dim], init: "norm" },
      { name: `${p}attn_q.weight`, shape: [dim, dim], init: "matrix" },
      { name: `${p}attn_k.weight`, shape: [dim, kvHeads * headDim], init: "matrix" },
      { name: `${p}attn_v.weight`, shape: [dim, kvHeads * headDim], init: "matrix" },
      { name: `${p}attn_output.weight`, shape: [dim, dim], init: "matrix" },
      { name: `${p}ffn_norm.weight`, shape: [dim], init: "norm" },
      { name: `${p}ffn_gate.weight`, shape: [dim, ffn], init: "matrix" },
      { name: `${p}ffn_up.weight`, shape: [dim, ffn], init: "matrix" },
      { name: `${p}ffn_down.weight`, shape: [ffn, dim], init: "matrix" },
    );
  }

  const tensors: GgufWriteTensor[] = specs.map((s, index) => {
    const type = typeOf(s.name, s.shape);
    return {
      name: s.name,
      type,
      shape: s.shape,
      // Each tensor has its own stream, so generation order (or skipping tensors) changes nothing.
      data: () => {
        const rng = new Rng(mix32(seed ^ mix32(index + 1)));
        const n = s.shape.reduce((a, b) => a * b, 1);
        const v = new Float32Array(n);
        // Norm gains near 1 and a unit-scale embedding keep activations away from zero, so
        // greedy decoding moves between tokens instead of settling on one at once.
        const scale = s.init === "embed" ? 1 : s.init === "norm" ? 0.1 : std;
        for (let i = 0; i < n; i++) v[i] = (s.init === "norm" ? 1 : 0) + scale * rng.normal();
        return type === GgmlType.F32 ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : (opts.quantize ?? quantize)(type, v);
      },
    };
  });

  const { tokens, scores, types } = syntheticSpmVocab(vocab);
  const main = typeOf("blk.0.attn_q.weight", [dim, dim]);
  const entries: [string, MetaValue, GgufType][] = [
    ["general.architecture", "llama", { type: GgufValueType.STRING }],
    ["general.name", opts.name ?? "synthetic-llama", { type: GgufValueType.STRING }],
    ["llama.vocab_size", vocab, { type: GgufValueType.U32 }],
    ["llama.context_length", ctx, { type: GgufValueType.U32 }],
    ["llama.embedding_length", dim, { type: GgufValueType.U32 }],
    ["llama.block_count", layers, { type: GgufValueType.U32 }],
    ["llama.feed_forward_length", ffn, { type: GgufValueType.U32 }],
    ["llama.rope.dimension_count", headDim, { type: GgufValueType.U32 }],
    ["llama.rope.freq_base", opts.ropeFreqBase ?? 10000, { type: GgufValueType.F32 }],
    ["llama.attention.head_count", heads, { type: GgufValueType.U32 }],
    ["llama.attention.head_count_kv", kvHeads, { type: GgufValueType.U32 }],
    ["llama.attention.layer_norm_rms_epsilon", opts.rmsEps ?? 1e-5, { type: GgufValueType.F32 }],
  ];
  const fileType = FILE_TYPE[main];
  if (fileType !== undefined) entries.push(["general.file_type", fileType, { type: GgufValueType.U32 }]);
  if (fileType !== undefined && fileType > 1 && fileType !== 32) {
    entries.push(["general.quantization_version", 2, { type: GgufValueType.U32 }]);
  }
  entries.push(
    ["tokenizer.ggml.model", "llama", { type: GgufValueType.STRING }],
    ["tokenizer.ggml.pre", "default", { type: GgufValueType.STRING }],
    ["tokenizer.ggml.tokens", tokens, { type: GgufValueType.ARRAY, arrayType: GgufValueType.STRING }],
    ["tokenizer.ggml.scores", scores, { type: GgufValueType.ARRAY, arrayType: GgufValueType.F32 }],
    ["tokenizer.ggml.token_type", types, { type: GgufValueType.ARRAY, arrayType: GgufValueType.I32 }],
    ["tokenizer.ggml.bos_token_id", 1, { type: GgufValueType.U32 }],
    ["tokenizer.ggml.eos_token_id", 2, { type: GgufValueType.U32 }],
    ["tokenizer.ggml.unknown_token_id", 0, { type: GgufValueType.U32 }],
    ["tokenizer.ggml.add_bos_token", true, { type: GgufValueType.BOOL }],
    ["tokenizer.ggml.add_eos_token", false, { type: GgufValueType.BOOL }],
  );
  return {
    metadata: new Map(entries.map(([k, v]) => [k, v])),
    metadataTypes: new Map(entries.map(([k, , t]) => [k, t])),
    tensors,
  };
}
