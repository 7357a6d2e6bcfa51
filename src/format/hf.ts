// A Hugging Face model folder (config.json + safetensors + tokenizer files) presented as the same
// ModelFile a GGUF made by llama.cpp's convert_hf_to_gguf.py would give: GGUF metadata keys,
// GGUF tensor names in GGML order, Q/K rows permuted for llama, Llama 3.1 rope factors
// synthesized. The model layer then never needs to know which format it was given.

import { UserError } from "../errors.ts";
import { F16_TO_F32 } from "./f16.ts";
import { GgmlType } from "./ggml.ts";
import { hfTokenizerToMetadata } from "./hf-tokenizer.ts";
import type { MetaValue, ModelFile, TensorInfo } from "./model-file.ts";
import {
  isReadableDtype, openSafetensorsCheckpoint, readSafetensorsTensor, READABLE_DTYPES,
  type FolderFiles, type SafetensorsTensor,
} from "./safetensors.ts";
import { TokenType } from "./tokenizer-meta.ts";

export type { FolderFiles } from "./safetensors.ts";

/** HF `architectures[0]` → GGUF architecture. Mistral's dense models are llama to llama.cpp. */
const ARCHITECTURES: Readonly<Record<string, "llama" | "qwen2">> = {
  LlamaForCausalLM: "llama",
  LLaMAForCausalLM: "llama",
  MistralForCausalLM: "llama",
  Qwen2ForCausalLM: "qwen2",
};

/** llama.cpp's `general.file_type` values for the unquantized types. */
const FILE_TYPE: Readonly<Record<string, number>> = { F32: 0, F16: 1, BF16: 32 };
const GGML_OF_DTYPE: Readonly<Record<string, GgmlType>> = { F32: GgmlType.F32, F16: GgmlType.F16, BF16: GgmlType.BF16 };

export interface HfHparams {
  readonly arch: "llama" | "qwen2";
  readonly hfArch: string;
  readonly blockCount: number;
  readonly embeddingLength: number;
  readonly headCount: number;
  /** As the config gives it; undefined when absent (llama.cpp then uses headCount). */
  readonly headCountKv: number | undefined;
  readonly headDim: number;
  readonly tieWordEmbeddings: boolean;
}

type Config = Record<string, unknown>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

class ConfigReader {
  readonly config: Config;
  readonly where: string;
  constructor(config: Config, where: string) {
    this.config = config;
    this.where = where;
  }
  has(key: string): boolean {
    return this.config[key] !== undefined && this.config[key] !== null;
  }
  int(key: string): number {
    const v = this.config[key];
    if (!Number.isSafeInteger(v) || (v as number) <= 0) {
      throw new UserError(`${this.where}: "${key}" must be a positive integer, got ${JSON.stringify(v) ?? "nothing"}`);
    }
    return v as number;
  }
  optInt(key: string): number | undefined {
    return this.has(key) ? this.int(key) : undefined;
  }
  optNum(key: string, from: Record<string, unknown> = this.config, label = key): number | undefined {
    const v = from[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v)) throw new UserError(`${this.where}: "${label}" must be a number, got ${JSON.stringify(v)}`);
    return v;
  }
}

/** Validates config.json and extracts what the tensor mapping needs. */
export function hfHparams(config: unknown, where = "config.json"): HfHparams {
  if (!isObject(config)) throw new UserError(`${where}: is not a JSON object`);
  const archs = config.architectures;
  const hfArch = Array.isArray(archs) && typeof archs[0] === "string" ? archs[0] : undefined;
  if (hfArch === undefined) throw new UserError(`${where}: has no "architectures" list naming the model class`);
  const arch = Object.hasOwn(ARCHITECTURES, hfArch) ? ARCHITECTURES[hfArch] : undefined;
  if (arch === undefined) {
    throw new UserError(`${where}: architecture "${hfArch}" is not supported (supported: ${Object.keys(ARCHITECTURES).join(", ")})`);
  }
  const c = new ConfigReader(config, where);
  const blockCount = c.int("num_hidden_layers");
  const embeddingLength = c.int("hidden_size");
  const headCount = c.int("num_attention_heads");
  const headCountKv = c.optInt("num_key_value_heads");
  let headDim = c.optInt("head_dim");
  if (headDim === undefined) {
    if (embeddingLength % headCount !== 0) {
      throw new UserError(`${where}: hidden_size ${embeddingLength} is not a multiple of num_attention_heads ${headCount} and there is no head_dim`);
    }
    headDim = embeddingLength / headCount;
  }
  if (headDim % 2 !== 0) throw new UserError(`${where}: head dimension ${headDim} is odd; rotary embeddings need pairs`);
  if (headCountKv !== undefined && headCount % headCountKv !== 0) {
    throw new UserError(`${where}: num_attention_heads ${headCount} is not a multiple of num_key_value_heads ${headCountKv}`);
  }
  const tie = config.tie_word_embeddings;
  return { arch, hfArch, blockCount, embeddingLength, headCount, headCountKv, headDim, tieWordEmbeddings: tie === true };
}

/** The rope settings block: transformers ≥ 5 calls it rope_parameters, older configs rope_scaling. */
function ropeParams(config: Config): Record<string, unknown> {
  const p = config.rope_parameters ?? config.rope_scaling;
  if (!isObject(p)) return {};
  return isObject(p.full_attention) ? p.full_attention : p;
}

/**
 * Llama 3.1's per-frequency rope divisors, as convert_hf_to_gguf.py computes them: in float32
 * (torch), each step rounded, so the tensor matches what the converter writes. Frequencies whose
 * wavelength is short stay (1), long ones are divided by `factor`, the band between is blended.
 */
export function llama3RopeFactors(p: {
  headDim: number; ropeTheta: number; factor: number; lowFreqFactor: number; highFreqFactor: number; originalContext: number;
}): Float32Array {
  const f = Math.fround;
  const half = p.headDim / 2;
  const out = new Float32Array(half);
  const lowWavelen = f(p.originalContext / p.lowFreqFactor);
  const highWavelen = f(p.originalContext / p.highFreqFactor);
  const twoPi = f(2 * Math.PI);
  for (let i = 0; i < half; i++) {
    const freq = f(1 / f(Math.pow(f(p.ropeTheta), f((2 * i) / p.headDim))));
    const wavelen = f(twoPi / freq);
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = p.factor;
    else {
      const smooth = f(f(f(f(p.originalContext) / wavelen) - f(p.lowFreqFactor)) / f(p.highFreqFactor - p.lowFreqFactor));
      out[i] = f(1 / f(f(f(1 - smooth) / f(p.factor)) + smooth));
    }
  }
  return out;
}

/** The rope_freqs tensor when config.json asks for Llama 3 rope scaling, else undefined. */
export function hfRopeFreqs(config: unknown, hp: HfHparams, where = "config.json"): Float32Array | undefined {
  if (!isObject(config)) return undefined;
  const p = ropeParams(config);
  const type = p.rope_type ?? p.type;
  if (typeof type !== "string" || type.toLowerCase() !== "llama3") return undefined;
  const c = new ConfigReader(config, where);
  const num = (k: string, dflt: number) => c.optNum(k, p, `rope_scaling.${k}`) ?? dflt;
  const factor = num("factor", 8);
  const lowFreqFactor = num("low_freq_factor", 1);
  const highFreqFactor = num("high_freq_factor", 4);
  // transformers reads original_max_position_embeddings from rope_scaling; the converter reads the
  // top level (absent in Meta's configs) and falls back to 8192, which is what Meta's configs put in
  // rope_scaling. Prefer the value the model was trained with; both agree on every Llama 3.x.
  const originalContext = c.optNum("original_max_position_embeddings", p, "rope_scaling.original_max_position_embeddings")
    ?? c.optNum("original_max_position_embeddings") ?? 8192;
  if (!(highFreqFactor > lowFreqFactor) || !(factor > 0) || !(lowFreqFactor > 0) || !(originalContext > 0)) {
    throw new UserError(`${where}: llama3 rope_scaling needs factor > 0 and high_freq_factor > low_freq_factor > 0`);
  }
  const ropeTheta = c.optNum("rope_theta", p, "rope_parameters.rope_theta") ?? c.optNum("rope_theta") ?? 10000;
  return llama3RopeFactors({ headDim: hp.headDim, ropeTheta, factor, lowFreqFactor, highFreqFactor, originalContext });
}

/**
 * GGUF metadata for config.json, the keys and values convert_hf_to_gguf.py writes for the llama
 * and qwen2 architectures (floats rounded to float32 as GGUF stores them). `fileType` is llama.cpp's
 * general.file_type; tokenizer keys come from hf-tokenizer.ts.
 */
export function hfConfigToMetadata(config: unknown, name: string, fileType: number, where = "config.json"): Map<string, MetaValue> {
  const hp = hfHparams(config, where);
  const cfg = config as Config;
  const c = new ConfigReader(cfg, where);
  const a = hp.arch;
  const f32 = (v: number) => Math.fround(v);
  const m = new Map<string, MetaValue>();
  m.set("general.architecture", a);
  m.set("general.type", "model");
  m.set("general.name", name);
  m.set(`${a}.block_count`, hp.blockCount);
  const ctx = c.optInt("max_position_embeddings");
  if (ctx !== undefined) m.set(`${a}.context_length`, ctx);
  m.set(`${a}.embedding_length`, hp.embeddingLength);
  const ff = c.optInt("intermediate_size");
  if (ff !== undefined) m.set(`${a}.feed_forward_length`, ff);
  m.set(`${a}.attention.head_count`, hp.headCount);
  if (hp.headCountKv !== undefined) m.set(`${a}.attention.head_count_kv`, hp.headCountKv);

  const p = ropeParams(cfg);
  const type = p.rope_type ?? p.type;
  const factor = c.optNum("factor", p, "rope_scaling.factor");
  if (type === "linear" && factor !== undefined) {
    m.set(`${a}.rope.scaling.type`, "linear");
    m.set(`${a}.rope.scaling.factor`, f32(factor));
  } else if (type === "yarn" && factor !== undefined) {
    m.set(`${a}.rope.scaling.type`, "yarn");
    m.set(`${a}.rope.scaling.factor`, f32(factor));
    const orig = c.optNum("original_max_position_embeddings", p, "rope_scaling.original_max_position_embeddings")
      ?? c.optNum("original_max_position_embeddings");
    if (orig === undefined) throw new UserError(`${where}: yarn rope_scaling needs original_max_position_embeddings`);
    m.set(`${a}.rope.scaling.original_context_length`, orig);
    const opt = (key: string, hfKeys: string[]) => {
      for (const k of hfKeys) {
        const v = c.optNum(k, p, `rope_scaling.${k}`);
        if (v !== undefined) return void m.set(`${a}.rope.scaling.${key}`, f32(v));
      }
    };
    opt("yarn_ext_factor", ["extrapolation_factor"]);
    opt("yarn_attn_factor", ["attention_factor", "attn_factor"]);
    opt("yarn_beta_fast", ["beta_fast"]);
    opt("yarn_beta_slow", ["beta_slow"]);
  }
  // Other types (dynamic NTK, …) get no keys: the converter only warns, and llama.cpp runs such
  // models unscaled, which is exact within the original context length.

  const theta = c.optNum("rope_theta", p, "rope_parameters.rope_theta") ?? c.optNum("rope_theta");
  if (theta !== undefined) m.set(`${a}.rope.freq_base`, f32(theta));
  const eps = c.optNum("rms_norm_eps") ?? c.optNum("norm_eps");
  if (eps !== undefined) m.set(`${a}.attention.layer_norm_rms_epsilon`, f32(eps));
  if (c.has("head_dim")) {
    m.set(`${a}.attention.key_length`, hp.headDim);
    m.set(`${a}.attention.value_length`, hp.headDim);
  }
  if (a === "llama") {
    m.set(`${a}.vocab_size`, c.int("vocab_size"));
    m.set(`${a}.rope.dimension_count`, hp.headDim);
  }
  m.set("general.file_type", fileType);
  m.set("general.quantization_version", 2);
  return m;
}

// ---------------------------------------------------------------------------------------------
// Tensor names and the Q/K permutation.

const LAYER_PARTS: Readonly<Record<string, string>> = {
  "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
  "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
  "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
};

/** Tensors the converter drops: buffers that HF recomputes and GGUF never stores. */
const IGNORED = /\.rotary_emb\.(inv_freq|cos_cached|sin_cached)$/;

/**
 * GGUF name of an HF tensor, "" for tensors the converter drops, or undefined for names it does
 * not know. `blockCount` bounds the layer index.
 */
export function hfTensorName(hfName: string, blockCount: number): string | undefined {
  if (IGNORED.test(hfName)) return "";
  if (hfName === "model.embed_tokens.weight") return "token_embd.weight";
  if (hfName === "model.norm.weight") return "output_norm.weight";
  if (hfName === "lm_head.weight") return "output.weight";
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hfName);
  if (!m) return undefined;
  const bid = Number(m[1]);
  const part = LAYER_PARTS[m[2]!];
  if (part === undefined || !Number.isSafeInteger(bid) || bid >= blockCount || String(bid) !== m[1]) return undefined;
  return `blk.${bid}.${part}.${m[3]}`;
}

/**
 * llama.cpp's `permute(w, n_head)`: HF stores each head's rotary pairs as two halves
 * (rotate-half); GGUF llama wants them interleaved. Row h*hd + 2i + j of the result is row
 * h*hd + j*hd/2 + i of the input. Rows are opaque byte runs, so any element type works.
 */
export function permuteQkRows(src: Uint8Array, nHead: number, rowBytes: number): Uint8Array {
  return moveRows(src, nHead, rowBytes, false);
}

/** The inverse of permuteQkRows (GGUF → HF), for `convert`. */
export function unpermuteQkRows(src: Uint8Array, nHead: number, rowBytes: number): Uint8Array {
  return moveRows(src, nHead, rowBytes, true);
}

function moveRows(src: Uint8Array, nHead: number, rowBytes: number, inverse: boolean): Uint8Array {
  const rows = src.byteLength / rowBytes;
  if (!Number.isInteger(rows) || rows % (2 * nHead) !== 0) {
    throw new Error(`Q/K permutation: ${rows} rows do not split into ${nHead} heads of rotary pairs`);
  }
  const hd = rows / nHead, half = hd / 2;
  const out = new Uint8Array(src.byteLength);
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const gguf = h * hd + 2 * i + j, hf = h * hd + j * half + i;
        const [to, from] = inverse ? [hf, gguf] : [gguf, hf];
        out.set(src.subarray(from * rowBytes, (from + 1) * rowBytes), to * rowBytes);
      }
    }
  }
  return out;
}

const F16_BITS = new Uint32Array(F16_TO_F32.buffer);

/** F16/BF16 → F32 bytes; exact, both are subsets of F32. */
function widenToF32(bytes: Uint8Array, dtype: string): Uint8Array {
  if (dtype === "F32") return bytes;
  const n = bytes.byteLength / 2;
  const src = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint8Array(n * 4);
  const dst = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    const h = src.getUint16(2 * i, true);
    if (dtype === "BF16") dst.setUint32(4 * i, h << 16, true);
    else dst.setUint32(4 * i, F16_BITS[h]!, true);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

interface Entry {
  readonly info: TensorInfo;
  readonly src?: SafetensorsTensor;
  /** Present for tensors llama.cpp computes at conversion time. */
  readonly synth?: Uint8Array;
  /** Head groups for the Q/K row permutation, 0 for none. */
  readonly permuteHeads: number;
  readonly widen: boolean;
}

/** Sort key that lists tensors as a GGUF does: globals, then blocks in order. */
function tensorOrder(name: string): [number, number, string] {
  const m = /^blk\.(\d+)\./.exec(name);
  if (m) return [1, Number(m[1]), name];
  const first = ["rope_freqs.weight", "token_embd.weight"].indexOf(name);
  if (first >= 0) return [0, first, name];
  return [2, ["output_norm.weight", "output.weight"].indexOf(name), name];
}

function folderBaseName(path: string): string {
  const parts = path.split(/[\/\\]+/).filter((s) => s.length > 0 && s !== ".");
  return parts.at(-1) ?? path;
}

/**
 * Opens a Hugging Face model folder as a ModelFile. `name` is the folder's path or label, used in
 * messages and for general.name.
 */
export async function readHfFolder(files: FolderFiles, name: string): Promise<ModelFile> {
  const where = `${name}/config.json`;
  const configText = await files.readText("config.json");
  if (configText === undefined) throw new UserError(`${name}: no config.json (not a Hugging Face model folder)`);
  let config: unknown;
  try {
    config = JSON.parse(configText);
  } catch (e) {
    throw new UserError(`${where}: is not valid JSON: ${(e as Error).message}`);
  }
  const hp = hfHparams(config, where);
  const ckpt = await openSafetensorsCheckpoint(files, name);
  try {
    const entries = new Map<string, Entry>();
    const add = (e: Entry) => {
      if (entries.has(e.info.name)) throw new UserError(`${name}: two tensors map to ${e.info.name}`);
      entries.set(e.info.name, e);
    };

    const ropeFreqs = hfRopeFreqs(config, hp, where);
    if (ropeFreqs) {
      add({
        info: { name: "rope_freqs.weight", type: GgmlType.F32, shape: [ropeFreqs.length], elements: ropeFreqs.length, byteLength: ropeFreqs.byteLength },
        synth: new Uint8Array(ropeFreqs.buffer), permuteHeads: 0, widen: false,
      });
    }

    let fileTypeDtype: string | undefined;
    for (const file of ckpt.files) {
      for (const t of file.tensors) if (!fileTypeDtype && t.shape.length >= 2 && ckpt.tensors.get(t.name) === t) fileTypeDtype = t.dtype;
    }

    for (const [hfName, t] of ckpt.tensors) {
      const ggufName = hfTensorName(hfName, hp.blockCount);
      if (ggufName === "") continue;
      if (ggufName === undefined) throw new UserError(`${t.file.source.name}: tensor "${hfName}" has no GGUF equivalent for ${hp.hfArch}`);
      if (ggufName === "output.weight" && hp.tieWordEmbeddings) continue;
      if (!isReadableDtype(t.dtype)) {
        throw new UserError(`${t.file.source.name}: tensor "${hfName}" has dtype ${t.dtype}; llamats reads only ${READABLE_DTYPES.join(", ")}`);
      }
      let permuteHeads = 0;
      if (hp.arch === "llama" && /\.attn_[qk]\.(weight|bias)$/.test(ggufName)) {
        const isK = ggufName.includes(".attn_k.");
        permuteHeads = isK ? (hp.headCountKv ?? hp.headCount) : hp.headCount;
        const rows = t.shape[0] ?? 0;
        if (rows !== permuteHeads * hp.headDim) {
          throw new UserError(`${t.file.source.name}: tensor "${hfName}" has ${rows} rows, expected ${permuteHeads} heads × ${hp.headDim}`);
        }
      }
      // The converter stores 1-D tensors (norms, biases) as F32 whatever the checkpoint's dtype.
      const widen = t.shape.length <= 1 && t.dtype !== "F32";
      const type = widen ? GgmlType.F32 : GGML_OF_DTYPE[t.dtype]!;
      const shape = t.shape.length === 0 ? [1] : [...t.shape].reverse();
      add({
        info: { name: ggufName, type, shape, elements: t.elements, byteLength: widen ? t.elements * 4 : t.byteLength },
        src: t, permuteHeads, widen,
      });
    }
    if (!entries.has("token_embd.weight")) throw new UserError(`${name}: checkpoint has no model.embed_tokens.weight`);

    const metadata = hfConfigToMetadata(config, folderBaseName(name), FILE_TYPE[fileTypeDtype ?? "F32"] ?? 0, where);
    for (const [k, v] of await tokenizerMetadata(files, name, config as Config)) metadata.set(k, v);

    const tensors = [...entries.values()].map((e) => e.info).sort((x, y) => {
      const [a0, a1, a2] = tensorOrder(x.name), [b0, b1, b2] = tensorOrder(y.name);
      return a0 - b0 || a1 - b1 || (a2 < b2 ? -1 : a2 > b2 ? 1 : 0);
    });

    return {
      format: "safetensors",
      name,
      metadata,
      tensors,
      async readTensor(tensorName: string): Promise<Uint8Array> {
        const e = entries.get(tensorName);
        if (!e) throw new UserError(`${name}: no tensor "${tensorName}"`);
        if (e.synth) return e.synth.slice();
        let bytes = await readSafetensorsTensor(e.src!);
        if (e.permuteHeads) {
          const rows = e.src!.shape[0]!;
          bytes = permuteQkRows(bytes, e.permuteHeads, bytes.byteLength / rows);
        }
        if (e.widen) bytes = widenToF32(bytes, e.src!.dtype);
        return bytes;
      },
      close: () => ckpt.close(),
    };
  } catch (e) {
    await ckpt.close();
    throw e;
  }
}

/**
 * Tokenizer keys from tokenizer.json (+ tokenizer_config.json), when the folder has them, with the
 * token list padded to config.json's vocab_size as the converter pads it (`[PADn]`, unused): the
 * embedding has vocab_size rows and llama.cpp requires one token per row.
 */
async function tokenizerMetadata(files: FolderFiles, name: string, config: Config): Promise<Map<string, MetaValue>> {
  const parse = async (file: string): Promise<unknown> => {
    const text = await files.readText(file);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new UserError(`${name}/${file}: is not valid JSON: ${(e as Error).message}`);
    }
  };
  const tokenizerJson = await parse("tokenizer.json");
  if (tokenizerJson === undefined) return new Map();
  const meta = hfTokenizerToMetadata(tokenizerJson, await parse("tokenizer_config.json"), `${name}/tokenizer.json`);

  const tokens = meta.get("tokenizer.ggml.tokens");
  const types = meta.get("tokenizer.ggml.token_type");
  const scores = meta.get("tokenizer.ggml.scores");
  const vocab = config.vocab_size;
  if (Array.isArray(tokens) && Array.isArray(types) && Number.isSafeInteger(vocab) && (vocab as number) > tokens.length) {
    for (let i = tokens.length; i < (vocab as number); i++) {
      tokens.push(`[PAD${i}]`);
      types.push(TokenType.UNUSED);
      if (Array.isArray(scores)) scores.push(-10000);
    }
  }
  return meta;
}
