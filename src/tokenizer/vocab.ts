// The vocabulary tables every tokenizer path shares, built from GGUF-named metadata (a GGUF file,
// or a Hugging Face tokenizer.json mapped to the same keys). Defaults and auto-detection follow
// llama.cpp's vocabulary loader so that a file behaves here as it does there; anything missing or
// inconsistent is refused with a TokenizerError rather than guessed around.

import type { MetaValue } from "../format/model-file.ts";
import { TokenizerError } from "../format/tokenizer-meta.ts";

export { TokenizerError, TokenType } from "../format/tokenizer-meta.ts";

/** Attribute bits derived from the type (and from llama.cpp's text-based fix-ups). */
export const TokenAttr = {
  UNKNOWN: 1 << 0,
  UNUSED: 1 << 1,
  NORMAL: 1 << 2,
  CONTROL: 1 << 3,
  USER_DEFINED: 1 << 4,
  BYTE: 1 << 5,
} as const;

const typeToAttr = [0, TokenAttr.NORMAL, TokenAttr.UNKNOWN, TokenAttr.CONTROL, TokenAttr.USER_DEFINED, TokenAttr.UNUSED, TokenAttr.BYTE];

export type VocabModel = "llama" | "gpt2";

export interface Vocab {
  readonly model: VocabModel;
  /** Pre-tokenizer name (`tokenizer.ggml.pre`); "default" when absent. */
  readonly pre: string;
  readonly tokens: readonly string[];
  readonly scores: Float32Array;
  /** TokenAttr bits per token. */
  readonly attrs: Uint8Array;
  readonly textToId: ReadonlyMap<string, number>;
  /** BPE merges as written in the file ("left right"), rank = index. Empty for SPM. */
  readonly merges: readonly string[];
  readonly bos: number;
  readonly eos: number;
  readonly eot: number;
  readonly eom: number;
  readonly unk: number;
  readonly pad: number;
  readonly sep: number;
  readonly addBos: boolean;
  readonly addEos: boolean;
  /** SPM dummy prefix on encode; one leading space removed on decode. */
  readonly addSpacePrefix: boolean;
  /** BPE: a pre-token that is itself a token skips the merges (Llama 3). */
  readonly ignoreMerges: boolean;
  /** llama.cpp's detokenize clean-up of " ." and friends (opt-in on decode here). */
  readonly cleanSpaces: boolean;
  /** End-of-generation ids: eos, eot, eom and the end tokens llama.cpp recognises by text. */
  readonly eog: ReadonlySet<number>;
  readonly chatTemplate?: string;
}

/** No token: how GGUF writers mark an unset id (u32 max) and what llama.cpp uses (-1). */
export const NO_TOKEN = -1;

const EOT_TEXTS = [
  "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
  "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>",
];
const EOG_TEXTS = new Set([
  "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>",
  "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<｜end▁of▁sentence｜>",
]);

const SUPPORTED_PRE = new Map<string, { ignoreMerges?: boolean; addBos?: boolean; cleanSpaces?: boolean }>([
  ["default", {}],
  ["llama3", { ignoreMerges: true, addBos: true }],
  ["llama-v3", { ignoreMerges: true, addBos: true }],
  ["llama-bpe", { ignoreMerges: true, addBos: true }],
  ["gpt-2", {}],
  ["qwen2", { cleanSpaces: false }],
  ["deepseek-r1-qwen", { cleanSpaces: false }],
  ["deepseek-llm", { cleanSpaces: false }],
]);

export function supportedPreTokenizers(): string[] {
  return [...SUPPORTED_PRE.keys()];
}

function where(name: string | undefined): string {
  return name ? `${name}: ` : "";
}

/** Builds and checks the tables. `name` prefixes error messages (a file path). */
export function vocabFromMetadata(metadata: ReadonlyMap<string, MetaValue>, name?: string): Vocab {
  const at = where(name);
  const fail = (problem: string): never => {
    throw new TokenizerError(`${at}${problem}`);
  };

  const modelValue = metadata.get("tokenizer.ggml.model");
  if (modelValue === undefined) fail("the file has no tokenizer (tokenizer.ggml.model is missing)");
  if (typeof modelValue !== "string") fail(`tokenizer.ggml.model must be a string, got ${describe(modelValue)}`);
  if (modelValue === "no_vocab" || modelValue === "none") fail("the file has no vocabulary (tokenizer.ggml.model = \"none\")");
  if (modelValue !== "llama" && modelValue !== "gpt2") {
    fail(`unsupported tokenizer model "${String(modelValue)}" (tokenizer.ggml.model; supported: llama, gpt2)`);
  }
  const model = modelValue as VocabModel;

  const tokensValue = metadata.get("tokenizer.ggml.tokens");
  if (tokensValue === undefined) fail("tokenizer.ggml.tokens is missing");
  if (!Array.isArray(tokensValue)) fail(`tokenizer.ggml.tokens must be an array of strings, got ${describe(tokensValue)}`);
  const rawTokens = tokensValue as MetaValue[];
  const n = rawTokens.length;
  if (n === 0) fail("tokenizer.ggml.tokens is empty");
  const tokens: string[] = new Array(n);
  const textToId = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    let t = rawTokens[i];
    if (typeof t !== "string") fail(`tokenizer.ggml.tokens[${i}] is ${describe(t)}, not a string`);
    if (t === "") t = `[EMPTY_${i}]`;
    const s = t as string;
    const prev = textToId.get(s);
    if (prev !== undefined) fail(`duplicate token in vocabulary: ${JSON.stringify(s)} has ids ${prev} and ${i}`);
    textToId.set(s, i);
    tokens[i] = s;
  }

  const scores = new Float32Array(n);
  const scoresValue = metadata.get("tokenizer.ggml.scores");
  if (scoresValue !== undefined) {
    if (!Array.isArray(scoresValue)) fail(`tokenizer.ggml.scores must be an array of numbers, got ${describe(scoresValue)}`);
    const arr = scoresValue as MetaValue[];
    if (arr.length !== n) fail(`tokenizer.ggml.scores has ${arr.length} entries but there are ${n} tokens`);
    for (let i = 0; i < n; i++) {
      const v = arr[i];
      if (typeof v !== "number" || Number.isNaN(v)) fail(`tokenizer.ggml.scores[${i}] is ${describe(v)}, not a number`);
      scores[i] = v as number;
    }
  }

  const attrs = new Uint8Array(n).fill(TokenAttr.NORMAL);
  const typesValue = metadata.get("tokenizer.ggml.token_type");
  if (typesValue !== undefined) {
    if (!Array.isArray(typesValue)) fail(`tokenizer.ggml.token_type must be an array of integers, got ${describe(typesValue)}`);
    const arr = typesValue as MetaValue[];
    if (arr.length !== n) fail(`tokenizer.ggml.token_type has ${arr.length} entries but there are ${n} tokens`);
    for (let i = 0; i < n; i++) {
      const v = arr[i];
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v >= typeToAttr.length) {
        fail(`tokenizer.ggml.token_type[${i}] is ${describe(v)}, not a token type (0..6)`);
      }
      attrs[i] = typeToAttr[v as number]!;
    }
  }

  let merges: string[] = [];
  let pre = "default";
  let ignoreMerges = false;
  let addBos = model === "llama";
  let addEos = false;
  let addSpacePrefix = model === "llama";
  let cleanSpaces = model === "gpt2";
  if (model === "gpt2") {
    const mergesValue = metadata.get("tokenizer.ggml.merges");
    if (mergesValue === undefined) fail("tokenizer.ggml.merges is missing (a gpt2/BPE vocabulary needs its merges)");
    if (!Array.isArray(mergesValue)) fail(`tokenizer.ggml.merges must be an array of strings, got ${describe(mergesValue)}`);
    merges = mergesValue as string[];
    for (let i = 0; i < merges.length; i++) {
      const m = merges[i];
      if (typeof m !== "string") fail(`tokenizer.ggml.merges[${i}] is ${describe(m)}, not a string`);
    }
    const preValue = metadata.get("tokenizer.ggml.pre");
    if (preValue !== undefined) {
      if (typeof preValue !== "string") fail(`tokenizer.ggml.pre must be a string, got ${describe(preValue)}`);
      pre = preValue as string;
    }
    const flags = SUPPORTED_PRE.get(pre);
    if (!flags) fail(`unsupported pre-tokenizer "${pre}" (tokenizer.ggml.pre; supported: ${supportedPreTokenizers().join(", ")})`);
    ignoreMerges = flags!.ignoreMerges ?? false;
    addBos = flags!.addBos ?? false;
    cleanSpaces = flags!.cleanSpaces ?? true;
  } else {
    const preValue = metadata.get("tokenizer.ggml.pre");
    if (typeof preValue === "string") pre = preValue;
  }
  const prefix = metadata.get("tokenizer.ggml.add_space_prefix");
  if (prefix !== undefined) addSpacePrefix = bool(prefix, "tokenizer.ggml.add_space_prefix", fail);
  const addBosValue = metadata.get("tokenizer.ggml.add_bos_token");
  if (addBosValue !== undefined) addBos = bool(addBosValue, "tokenizer.ggml.add_bos_token", fail);
  const addEosValue = metadata.get("tokenizer.ggml.add_eos_token");
  if (addEosValue !== undefined) addEos = bool(addEosValue, "tokenizer.ggml.add_eos_token", fail);

  // llama.cpp's built-in defaults, dropped when outside the vocabulary.
  const dflt = (id: number): number => (id >= 0 && id < n ? id : NO_TOKEN);
  const special = (key: string, fallback: number, strict: boolean): number => {
    const v = metadata.get(key);
    if (v === undefined) return fallback;
    let id: number;
    if (typeof v === "number" && Number.isInteger(v)) id = v;
    else if (typeof v === "bigint") id = Number(v);
    else return fail(`${key} must be an integer, got ${describe(v)}`);
    // Writers mark "unset" with u32 max or -1.
    if (id === 0xffffffff || id === -1) return NO_TOKEN;
    if (id < 0 || id >= n) {
      if (strict) fail(`${key} = ${id} is outside the vocabulary of ${n} tokens`);
      return fallback;
    }
    return id;
  };
  const bos = special("tokenizer.ggml.bos_token_id", dflt(model === "llama" ? 1 : 11), true);
  const eos = special("tokenizer.ggml.eos_token_id", dflt(model === "llama" ? 2 : 11), true);
  const unk = special("tokenizer.ggml.unknown_token_id", model === "llama" ? dflt(0) : NO_TOKEN, true);
  let eot = special("tokenizer.ggml.eot_token_id", NO_TOKEN, true);
  let eom = special("tokenizer.ggml.eom_token_id", NO_TOKEN, true);
  const pad = special("tokenizer.ggml.padding_token_id", NO_TOKEN, false);
  const sep = special("tokenizer.ggml.seperator_token_id", NO_TOKEN, false);
  if (addBos && bos === NO_TOKEN) fail("tokenizer.ggml.add_bos_token is true, but tokenizer.ggml.bos_token_id is not set");
  if (addEos && eos === NO_TOKEN) fail("tokenizer.ggml.add_eos_token is true, but tokenizer.ggml.eos_token_id is not set");

  // Older converters do not write eot/eom ids; llama.cpp finds them by text and forces them to
  // be control tokens so that they are never produced from plain text.
  const forceControl = (id: number): void => {
    attrs[id] = attrs[id]! | TokenAttr.CONTROL;
  };
  if (eot === NO_TOKEN) {
    for (const t of EOT_TEXTS) {
      const id = textToId.get(t);
      if (id !== undefined) {
        eot = id;
        forceControl(id);
        break;
      }
    }
  }
  if (eom === NO_TOKEN) {
    const id = textToId.get("<|eom_id|>");
    if (id !== undefined) {
      eom = id;
      forceControl(id);
    }
  }
  const eog = new Set<number>();
  for (const t of EOG_TEXTS) {
    const id = textToId.get(t);
    if (id !== undefined) {
      eog.add(id);
      forceControl(id);
    }
  }
  for (const id of [eos, eot, eom]) if (id !== NO_TOKEN) eog.add(id);

  const template = metadata.get("tokenizer.chat_template");
  return {
    model, pre, tokens, scores, attrs, textToId, merges,
    bos, eos, eot, eom, unk, pad, sep,
    addBos, addEos, addSpacePrefix, ignoreMerges, cleanSpaces,
    eog,
    ...(typeof template === "string" ? { chatTemplate: template } : {}),
  };
}

function bool(v: MetaValue, key: string, fail: (p: string) => never): boolean {
  if (typeof v === "boolean") return v;
  return fail(`${key} must be a boolean, got ${describe(v)}`);
}

function describe(v: unknown): string {
  if (v === undefined) return "missing";
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v)}`;
  return `${typeof v} ${String(v)}`;
}
