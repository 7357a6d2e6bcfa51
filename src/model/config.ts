// Hyperparameters of a Llama-family model, read from GGUF-style metadata (the HF reader maps
// config.json onto the same keys). Architectures differ by flags, not by copies of the model.

import { UserError } from "../errors.ts";
import type { MetaValue, ModelFile } from "../format/model-file.ts";

export interface ModelConfig {
  readonly architecture: string;
  readonly contextLength: number;
  readonly dim: number;
  readonly nLayers: number;
  readonly ffnDim: number;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
  readonly rmsEps: number;
  readonly rope: {
    readonly dims: number;
    readonly freqBase: number;
    readonly freqScale: number;
    readonly neox: boolean;
    readonly scaling: "none" | "linear" | "yarn";
    readonly origContext: number;
    readonly yarnAttnFactor: number;
  };
  /** No `output.weight`: logits come from the token embedding matrix (Llama 3.2 1B/3B, SmolLM). */
  readonly tiedEmbeddings: boolean;
  /** Q/K/V projections carry biases (Qwen2). */
  readonly qkvBias: boolean;
}

/** Architectures this engine runs, with what sets each apart from plain Llama. */
const ARCHITECTURES: Record<string, { neox: boolean }> = {
  llama: { neox: false },
  qwen2: { neox: true },
};

export const SUPPORTED_ARCHITECTURES = Object.keys(ARCHITECTURES);

export function modelConfig(file: ModelFile): ModelConfig {
  const md = file.metadata;
  const arch = str(md, "general.architecture");
  if (arch === undefined) throw new UserError(`${file.name}: no general.architecture in metadata; not a model file`);
  const flags = ARCHITECTURES[arch];
  if (!flags) {
    throw new UserError(`${file.name}: architecture '${arch}' is not supported (supported: ${SUPPORTED_ARCHITECTURES.join(", ")})`);
  }
  const key = (k: string) => `${arch}.${k}`;
  const need = (k: string) => {
    const v = num(md, key(k));
    if (v === undefined) throw new UserError(`${file.name}: metadata key ${key(k)} is missing`);
    return v;
  };
  const dim = need("embedding_length");
  const nHeads = need("attention.head_count");
  const nKvHeads = num(md, key("attention.head_count_kv")) ?? nHeads;
  const headDim = num(md, key("attention.key_length")) ?? dim / nHeads;
  const nLayers = need("block_count");
  const embd = file.tensors.find((t) => t.name === "token_embd.weight");
  if (!embd) throw new UserError(`${file.name}: tensor token_embd.weight is missing`);
  const vocabSize = embd.shape[1] ?? 1;

  // As llama.cpp: the scaling factor applies whatever the scaling type; only YaRN adds more.
  const scalingType = str(md, key("rope.scaling.type")) ?? "linear";
  if (scalingType !== "none" && scalingType !== "linear" && scalingType !== "yarn") {
    throw new UserError(`${file.name}: rope scaling '${scalingType}' is not supported`);
  }
  const factor = num(md, key("rope.scaling.factor")) || num(md, key("rope.scale_linear")) || 0;
  const freqScale = factor > 0 ? 1 / factor : 1;

  const config: ModelConfig = {
    architecture: arch,
    contextLength: num(md, key("context_length")) ?? 2048,
    dim,
    nLayers,
    ffnDim: need("feed_forward_length"),
    nHeads,
    nKvHeads,
    headDim,
    vocabSize,
    rmsEps: num(md, key("attention.layer_norm_rms_epsilon")) ?? 1e-5,
    rope: {
      dims: num(md, key("rope.dimension_count")) ?? headDim,
      freqBase: num(md, key("rope.freq_base")) ?? 10000,
      freqScale,
      neox: flags.neox,
      scaling: scalingType,
      origContext: num(md, key("rope.scaling.original_context_length")) ?? num(md, key("context_length")) ?? 2048,
      yarnAttnFactor: num(md, key("rope.scaling.attn_factor")) ?? 1,
    },
    tiedEmbeddings: !file.tensors.some((t) => t.name === "output.weight"),
    qkvBias: file.tensors.some((t) => t.name === "blk.0.attn_q.bias"),
  };
  validate(file.name, config);
  return config;
}

function validate(name: string, c: ModelConfig): void {
  const positive = { dim: c.dim, nLayers: c.nLayers, ffnDim: c.ffnDim, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim };
  for (const [k, v] of Object.entries(positive)) {
    if (!Number.isInteger(v) || v <= 0 || v > 1 << 20) throw new UserError(`${name}: ${k} = ${v} is not a valid size`);
  }
  if (c.nHeads % c.nKvHeads !== 0) throw new UserError(`${name}: ${c.nHeads} heads is not a multiple of ${c.nKvHeads} KV heads`);
  if (c.rope.dims % 2 !== 0 || c.rope.dims > c.headDim) throw new UserError(`${name}: rope dimension ${c.rope.dims} does not fit head size ${c.headDim}`);
}

function num(md: ReadonlyMap<string, MetaValue>, k: string): number | undefined {
  const v = md.get(k);
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return undefined;
}

function str(md: ReadonlyMap<string, MetaValue>, k: string): string | undefined {
  const v = md.get(k);
  return typeof v === "string" ? v : undefined;
}
