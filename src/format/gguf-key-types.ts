// Stored GGUF types for metadata that has none recorded (a Hugging Face folder gives plain
// numbers). llama.cpp checks the type of what it reads: a float key written as u32 (rope_theta
// 500000.0 is an integer in JS) fails to load, and a score array written as integers would be read
// back as float bit patterns. These are the keys whose type cannot be guessed from the value.

import { GgufValueType, inferGgufType, type GgufType } from "./gguf.ts";
import type { MetaValue } from "./model-file.ts";

const FLOAT_KEY = /\.(rope\.freq_base|rope\.scaling\.(factor|attn_factor|yarn_\w+)|attention\.layer_norm_(rms_)?epsilon|attention\.logit_softcapping|final_logit_softcapping|rope\.scaling\.low_freq_factor|rope\.scaling\.high_freq_factor)$/;

const ARRAY_TYPES: Readonly<Record<string, GgufValueType>> = {
  "tokenizer.ggml.scores": GgufValueType.F32,
  "tokenizer.ggml.token_type": GgufValueType.I32,
};

/** The type llama.cpp expects for `key`, falling back to `inferGgufType`. */
export function llamaCppKeyType(key: string, value: MetaValue): GgufType {
  if (typeof value === "number" && FLOAT_KEY.test(key)) return { type: GgufValueType.F32 };
  const arrayType = ARRAY_TYPES[key];
  if (arrayType !== undefined && Array.isArray(value)) return { type: GgufValueType.ARRAY, arrayType };
  return inferGgufType(value);
}

/** Recorded types where the file has them, llama.cpp's expectations for the rest. */
export function metadataTypesFor(metadata: ReadonlyMap<string, MetaValue>, recorded?: ReadonlyMap<string, GgufType>): Map<string, GgufType> {
  const out = new Map<string, GgufType>();
  for (const [k, v] of metadata) out.set(k, recorded?.get(k) ?? llamaCppKeyType(k, v));
  return out;
}
