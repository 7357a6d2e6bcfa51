// Whole-model quantization: which GGML type each tensor gets for a llama.cpp file type (the
// "mixtures" behind Q4_K_M, Q3_K_M, …), and a streaming GGUF writer input that converts tensor by
// tensor. The type rules follow llama.cpp's llama_tensor_get_type (src/llama-quant.cpp) as of
// the release node-llama-cpp bundles, so a file quantized here has the same tensor types, sizes
// and (with the bit-exact reference quantizers of quant.ts) the same bytes as llama-quantize's.

import { UserError } from "../errors.ts";
import { GgmlType, ggmlTypeInfo, ggmlTypeName } from "./ggml.ts";
import { GgufValueType, type GgufType, type GgufWriteInput, type GgufWriteTensor } from "./gguf.ts";
import { metadataTypesFor } from "./gguf-key-types.ts";
import type { MetaValue, ModelFile, TensorInfo } from "./model-file.ts";
import { canDequantize, dequantize, quantize } from "./quant.ts";

/** The file types `llamats quantize` offers: llama.cpp's `general.file_type` and default tensor type. */
export const QUANT_TYPES = {
  F16: { ftype: 1, base: GgmlType.F16 },
  BF16: { ftype: 32, base: GgmlType.BF16 },
  Q8_0: { ftype: 7, base: GgmlType.Q8_0 },
  Q4_0: { ftype: 2, base: GgmlType.Q4_0 },
  Q4_1: { ftype: 3, base: GgmlType.Q4_1 },
  Q5_0: { ftype: 8, base: GgmlType.Q5_0 },
  Q5_1: { ftype: 9, base: GgmlType.Q5_1 },
  Q2_K: { ftype: 10, base: GgmlType.Q2_K },
  Q3_K_M: { ftype: 12, base: GgmlType.Q3_K },
  Q4_K_S: { ftype: 14, base: GgmlType.Q4_K },
  Q4_K_M: { ftype: 15, base: GgmlType.Q4_K },
  Q5_K_M: { ftype: 17, base: GgmlType.Q5_K },
  Q6_K: { ftype: 18, base: GgmlType.Q6_K },
} as const satisfies Record<string, { ftype: number; base: GgmlType }>;

export type QuantTypeName = keyof typeof QUANT_TYPES;

export const QUANT_TYPE_NAMES = Object.keys(QUANT_TYPES) as QuantTypeName[];

/** Case-insensitive lookup; an unknown name is a user error listing the valid ones. */
export function parseQuantType(name: string): QuantTypeName {
  const upper = name.toUpperCase() as QuantTypeName;
  if (upper in QUANT_TYPES) return upper;
  throw new UserError(`unknown quantization type '${name}' (valid: ${QUANT_TYPE_NAMES.join(", ")})`);
}

const GGML_QNT_VERSION = 2;

type Category = "token_embd" | "output" | "attn_v" | "attn_k" | "attn_q" | "attn_output" | "ffn_up" | "ffn_gate" | "ffn_down" | "attn_qkv" | "other";

function categoryOf(name: string): Category {
  if (name === "output.weight") return "output";
  if (name === "token_embd.weight" || name === "per_layer_token_embd.weight") return "token_embd";
  // attn_qkv and attn_kv_b are attn_v-like to llama.cpp: they hold the values.
  if (name.includes("attn_qkv.weight")) return "attn_qkv";
  if (name.includes("attn_kv_b.weight") || name.includes("attn_v.weight")) return "attn_v";
  if (name.includes("attn_k.weight")) return "attn_k";
  if (name.includes("attn_q.weight")) return "attn_q";
  if (name.includes("attn_output.weight")) return "attn_output";
  if (name.includes("ffn_up")) return "ffn_up";
  if (name.includes("ffn_gate")) return "ffn_gate";
  if (name.includes("ffn_down")) return "ffn_down";
  return "other";
}

/** ggml_n_dims: trailing dimensions of 1 do not count. */
function nDims(shape: readonly number[]): number {
  let n = shape.length;
  while (n > 1 && shape[n - 1] === 1) n--;
  return n;
}

// Small or special tensors llama.cpp never quantizes (the ones a Llama-family file can have).
const KEEP = ["_norm.weight", "ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "attn_rel_b.weight"];

export function allowsQuantization(t: { name: string; shape: readonly number[] }): boolean {
  if (nDims(t.shape) < 2) return false;
  if (!t.name.endsWith("weight")) return false;
  if (t.name === "position_embd.weight" || t.name === "token_types.weight") return false;
  return !KEEP.some((k) => t.name.includes(k));
}

/** sscanf(name, "blk.%d.") — the layer of a block tensor, -1 for the others. */
function layerOf(name: string): number {
  const m = /^blk\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : -1;
}

/**
 * llama.cpp's tensor order (its loader keeps weights in a map sorted by layer, then name): the
 * order llama-quantize visits tensors, advances its per-layer counters, and writes the output.
 */
export function llamaCppTensorOrder<T extends { name: string }>(tensors: readonly T[]): T[] {
  return [...tensors].sort((a, b) => {
    const la = layerOf(a.name), lb = layerOf(b.name);
    if (la !== lb) return la - lb;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}

/** The hyperparameters the mixture rules read. */
export interface MixtureHparams {
  readonly arch: string;
  readonly nLayer: number;
  /** n_head / n_head_kv. */
  readonly nGqa: number;
  readonly nExpert: number;
  /** llama.cpp's LLM_TYPE_70B (Llama 2/3 70B: 80 layers with grouped-query attention). */
  readonly is70B: boolean;
}

function metaInt(meta: ReadonlyMap<string, MetaValue>, key: string): number | undefined {
  const v = meta.get(key);
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (Array.isArray(v) && typeof v[0] === "number") return v[0];
  return undefined;
}

export function mixtureHparams(meta: ReadonlyMap<string, MetaValue>): MixtureHparams {
  const arch = meta.get("general.architecture");
  if (typeof arch !== "string") throw new UserError("the model has no general.architecture");
  const nLayer = metaInt(meta, `${arch}.block_count`);
  if (nLayer === undefined) throw new UserError(`the model has no ${arch}.block_count`);
  const nHead = metaInt(meta, `${arch}.attention.head_count`) ?? 1;
  const nHeadKv = metaInt(meta, `${arch}.attention.head_count_kv`) ?? nHead;
  const nExpert = metaInt(meta, `${arch}.expert_count`) ?? 0;
  return {
    arch, nLayer, nExpert,
    nGqa: nHeadKv > 0 ? Math.floor(nHead / nHeadKv) : 0,
    is70B: arch === "llama" && nLayer === 80 && nHead !== nHeadKv,
  };
}

const T = GgmlType;

function useMoreBits(i: number, n: number): boolean {
  return i < Math.trunc(n / 8) || i >= Math.trunc((7 * n) / 8) || (i - Math.trunc(n / 8)) % 3 === 2;
}

function blockSize(type: GgmlType): number {
  return ggmlTypeInfo(type)!.blockSize;
}

function isQuantized(type: GgmlType): boolean {
  return blockSize(type) > 1;
}

/** A row length the chosen type cannot split into blocks: the type llama.cpp falls back to. */
function fallback(name: string, ncols: number, target: GgmlType): GgmlType {
  if (ncols % blockSize(target) === 0) return target;
  let next: GgmlType;
  switch (target) {
    case T.Q2_K: case T.Q3_K: next = T.Q4_0; break;
    case T.Q4_K: next = T.Q5_0; break;
    case T.Q5_K: next = T.Q5_1; break;
    case T.Q6_K: next = T.Q8_0; break;
    default:
      throw new UserError(`${name}: rows of ${ncols} values cannot be stored as ${ggmlTypeName(target)} (blocks of ${blockSize(target)}) and there is no fallback type`);
  }
  return ncols % blockSize(next) === 0 ? next : T.F16;
}

interface Counters {
  nAttnV: number;
  iAttnV: number;
  iFfnDown: number;
  iFfnGate: number;
  iFfnUp: number;
  tied: boolean;
}

function mixtureType(q: QuantTypeName, hp: MixtureHparams, c: Counters, t: { name: string; shape: readonly number[] }, cat: Category, base: GgmlType): GgmlType {
  let type = base;
  const layer = (counter: number): [number, number] => {
    // With experts, ffn tensors are not one per layer in order: the name says which layer.
    if (hp.nExpert > 1) {
      const l = layerOf(t.name);
      if (l < 0 || l >= hp.nLayer) throw new UserError(`${t.name}: cannot tell its layer`);
      return [l, hp.nLayer];
    }
    return [counter, hp.nLayer];
  };
  if (cat === "output" || (c.tied && cat === "token_embd")) {
    const nx = t.shape[0]!;
    if (hp.arch === "falcon" || nx % blockSize(type) !== 0) type = T.Q8_0;
    else if (type !== T.Q8_0) type = T.Q6_K;
  } else if (cat === "token_embd") {
    // only the IQ and ternary mixtures change it
  } else if (cat === "attn_v" || cat === "attn_qkv") {
    if (q === "Q2_K") type = hp.nGqa >= 4 ? T.Q4_K : T.Q3_K;
    else if (q === "Q3_K_M") type = c.iAttnV < 2 ? T.Q5_K : T.Q4_K;
    else if ((q === "Q4_K_M" || q === "Q5_K_M") && useMoreBits(c.iAttnV, c.nAttnV)) type = T.Q6_K;
    else if (q === "Q4_K_S" && c.iAttnV < 4) type = T.Q5_K;
    if (hp.is70B && (type === T.Q3_K || type === T.Q4_K)) type = T.Q5_K;
    if (hp.nExpert === 8) type = T.Q8_0;
    c.iAttnV++;
  } else if (cat === "attn_k") {
    if (hp.nExpert === 8) type = T.Q8_0;
  } else if (cat === "attn_q") {
    // only the IQ3 mixtures change it
  } else if (cat === "ffn_down") {
    const [i, n] = layer(c.iFfnDown);
    const falcon = hp.arch === "falcon";
    if (q === "Q2_K") type = T.Q3_K;
    else if (q === "Q3_K_M") type = i < Math.trunc(n / 16) ? T.Q5_K : !falcon || useMoreBits(i, n) ? T.Q4_K : T.Q3_K;
    else if (q === "Q4_K_M") {
      if (falcon) type = i < Math.trunc(n / 16) ? T.Q6_K : useMoreBits(i, n) ? T.Q5_K : T.Q4_K;
      else if (useMoreBits(i, n)) type = T.Q6_K;
    } else if (q === "Q5_K_M" && useMoreBits(i, n)) type = T.Q6_K;
    else if (q === "Q4_K_S" && !falcon && i < Math.trunc(n / 8)) type = T.Q5_K;
    c.iFfnDown++;
  } else if (cat === "attn_output") {
    if (hp.arch !== "falcon") {
      if (hp.nExpert === 8) {
        if (q === "Q2_K" || q === "Q3_K_M" || q === "Q4_K_S" || q === "Q4_K_M") type = T.Q5_K;
      } else if (q === "Q2_K") type = T.Q3_K;
      else if (q === "Q3_K_M") type = T.Q4_K;
    }
  } else if (cat === "ffn_gate") {
    c.iFfnGate++;
  } else if (cat === "ffn_up") {
    c.iFfnUp++;
  }
  return type;
}

export interface TensorPlan {
  readonly name: string;
  readonly shape: readonly number[];
  /** Type in the input file. */
  readonly from: GgmlType;
  /** Type in the output file. */
  readonly to: GgmlType;
  /** Bytes in the output file (without alignment padding). */
  readonly bytes: number;
}

/**
 * The output tensors, in llama.cpp's order, with the type each gets under file type `q`. Pure
 * function of the tensor table and a few hyperparameters: tests compute the expected mixture with
 * it and `quantize --dry-run` prints it.
 */
export function planQuantization(file: { metadata: ReadonlyMap<string, MetaValue>; tensors: readonly TensorInfo[] }, q: QuantTypeName): TensorPlan[] {
  const hp = mixtureHparams(file.metadata);
  const base = QUANT_TYPES[q].base;
  const ordered = llamaCppTensorOrder(file.tensors);
  const c: Counters = {
    nAttnV: ordered.filter((t) => { const k = categoryOf(t.name); return k === "attn_v" || k === "attn_qkv"; }).length,
    iAttnV: 0, iFfnDown: 0, iFfnGate: 0, iFfnUp: 0,
    tied: !ordered.some((t) => t.name === "output.weight"),
  };
  return ordered.map((t) => {
    let to: GgmlType = t.type;
    if (allowsQuantization(t)) {
      to = base;
      if (isQuantized(base)) {
        to = mixtureType(q, hp, c, t, categoryOf(t.name), base);
        to = fallback(t.name, t.shape[0]!, to);
      }
    }
    const info = ggmlTypeInfo(to)!;
    const rows = t.shape.slice(1).reduce((a, d) => a * d, 1);
    return { name: t.name, shape: t.shape, from: t.type, to, bytes: (t.shape[0]! / info.blockSize) * info.typeSize * rows };
  });
}

export interface QuantizeModelOptions {
  /** Allow quantized input tensors to be dequantized and quantized again (lossy twice). */
  readonly allowRequantize?: boolean;
  /** Called after each tensor is produced, with the bytes of input processed so far. */
  readonly onTensor?: (done: { index: number; count: number; name: string; inputBytes: number; totalInputBytes: number }) => void;
  /**
   * Encode f32 values as `type` (default quant.ts `quantize`); the CLI passes a multi-threaded
   * one. Must give the same bytes as the default.
   */
  readonly quantize?: (type: GgmlType, values: Float32Array, rowLength: number) => Uint8Array | Promise<Uint8Array>;
}

const QUANTIZATION_KEYS = new Set(["general.quantization_version", "general.file_type", "split.no", "split.count", "split.tensors.count"]);

/**
 * GGUF writer input for `file` quantized as `q`: the metadata as llama-quantize writes it (input
 * keys in order, split keys dropped, quantization_version and file_type appended) and tensors that
 * are read, converted and handed to the writer one at a time.
 */
export function quantizeModel(file: ModelFile & { metadataTypes?: ReadonlyMap<string, GgufType> }, q: QuantTypeName, opts: QuantizeModelOptions = {}): { input: GgufWriteInput; plan: TensorPlan[] } {
  const plan = planQuantization(file, q);
  for (const p of plan) {
    if (p.from === p.to) continue;
    if (isQuantized(p.from) && !opts.allowRequantize) {
      throw new UserError(`${file.name}: tensor ${p.name} is already ${ggmlTypeName(p.from)}; quantize from an F32/F16/BF16 file (or pass --allow-requantize)`);
    }
    if (!canDequantize(p.from)) throw new UserError(`${file.name}: tensor ${p.name} has type ${ggmlTypeName(p.from)}, which llamats cannot read`);
  }

  const metadata = new Map<string, MetaValue>();
  const metadataTypes = new Map<string, GgufType>();
  const known = metadataTypesFor(file.metadata, file.metadataTypes);
  for (const [k, v] of file.metadata) {
    if (QUANTIZATION_KEYS.has(k)) continue;
    metadata.set(k, v);
    metadataTypes.set(k, known.get(k)!);
  }
  metadata.set("general.quantization_version", GGML_QNT_VERSION);
  metadataTypes.set("general.quantization_version", { type: GgufValueType.U32 });
  metadata.set("general.file_type", QUANT_TYPES[q].ftype);
  metadataTypes.set("general.file_type", { type: GgufValueType.U32 });

  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  const totalInputBytes = plan.reduce((a, p) => a + byName.get(p.name)!.byteLength, 0);
  let inputBytes = 0;
  const encode = opts.quantize ?? ((type: GgmlType, values: Float32Array) => quantize(type, values));
  const tensors: GgufWriteTensor[] = plan.map((p, index) => ({
    name: p.name,
    type: p.to,
    shape: p.shape,
    data: async () => {
      const info = byName.get(p.name)!;
      const raw = await file.readTensor(p.name);
      let out: Uint8Array;
      if (p.from === p.to) out = raw;
      else {
        const values = p.from === GgmlType.F32 && raw.byteOffset % 4 === 0
          ? new Float32Array(raw.buffer, raw.byteOffset, info.elements)
          : dequantize(p.from, raw, info.elements);
        out = await encode(p.to, values, p.shape[0]!);
      }
      inputBytes += info.byteLength;
      opts.onTensor?.({ index, count: plan.length, name: p.name, inputBytes, totalInputBytes });
      return out;
    },
  }));
  return { input: { metadata, metadataTypes, tensors }, plan };
}
