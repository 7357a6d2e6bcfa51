// Hugging Face tokenizer.json (+ tokenizer_config.json) → the GGUF tokenizer keys llama.cpp's
// converter writes, so that a safetensors folder and a GGUF file build the very same tokenizer
// tables. Covers the two tokenizer.json shapes of Llama-family models: byte-level BPE (Llama 3:
// `gpt2` + merges + a `pre` name recognised from the Split regex) and SentencePiece-style BPE with
// byte fallback (Llama 2, TinyLlama, Mistral: `llama`, with scores recovered from merge order).

import type { MetaValue } from "./model-file.ts";
import { TokenizerError, TokenType } from "./tokenizer-meta.ts";

type Json = Record<string, unknown>;

/** The Split regexes of known pre-tokenizers, as tokenizer.json spells them. */
const KNOWN_SPLITS = new Map<string, string>([
  [String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`, "llama-bpe"],
  [String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`, "qwen2"],
]);

const BYTE_PIECE = /^<0x[0-9A-Fa-f]{2}>$/;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Flattens a component that may be a Sequence of components. */
function components(c: unknown, listKey: string): Json[] {
  if (!isObject(c)) return [];
  if (c["type"] === "Sequence" && Array.isArray(c[listKey])) return (c[listKey] as unknown[]).flatMap((x) => components(x, listKey));
  return [c];
}

/** Text of a config token entry: "<s>" or { content: "<s>", … }. */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (isObject(v) && typeof v["content"] === "string") return v["content"];
  return undefined;
}

/** llama.cpp's converter treats these added tokens as control tokens even when not marked special. */
function looksSpecial(t: string): boolean {
  return (
    ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].includes(t) ||
    (t.startsWith("<|") && t.endsWith("|>")) ||
    (t.startsWith("<｜") && t.endsWith("｜>")) ||
    (t.startsWith("<unused") && t.endsWith(">"))
  );
}

export function hfTokenizerToMetadata(tokenizerJson: unknown, tokenizerConfig?: unknown, name = "tokenizer.json"): Map<string, MetaValue> {
  const fail = (problem: string): never => {
    throw new TokenizerError(`${name}: ${problem}`);
  };
  if (!isObject(tokenizerJson)) fail("is not a JSON object");
  const tj = tokenizerJson as Json;
  const config: Json = isObject(tokenizerConfig) ? tokenizerConfig : {};
  const model = tj["model"];
  if (!isObject(model)) fail("has no \"model\" section");
  const m = model as Json;
  const modelType = m["type"] ?? (m["merges"] !== undefined ? "BPE" : undefined);
  if (modelType !== "BPE") fail(`tokenizer model type ${JSON.stringify(modelType)} is not supported (only BPE)`);
  if (!isObject(m["vocab"])) fail("model.vocab is missing or not an object");
  const vocab = m["vocab"] as Json;

  // Ids: the model vocabulary plus added tokens, which may extend it.
  const byId = new Map<number, string>();
  let maxId = -1;
  const place = (text: string, id: unknown, what: string): void => {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) fail(`${what} ${JSON.stringify(text)} has id ${String(id)}, not a non-negative integer`);
    const n = id as number;
    const prev = byId.get(n);
    if (prev !== undefined && prev !== text) fail(`id ${n} is given to both ${JSON.stringify(prev)} and ${JSON.stringify(text)}`);
    byId.set(n, text);
    if (n > maxId) maxId = n;
  };
  for (const [text, id] of Object.entries(vocab)) place(text, id, "token");
  const added = new Map<number, Json>();
  if (tj["added_tokens"] !== undefined) {
    if (!Array.isArray(tj["added_tokens"])) fail("added_tokens is not an array");
    for (const a of tj["added_tokens"] as unknown[]) {
      if (!isObject(a) || typeof a["content"] !== "string") fail("an added_tokens entry has no content");
      const at = a as Json;
      place(at["content"] as string, at["id"], "added token");
      added.set(at["id"] as number, at);
    }
  }
  const n = maxId + 1;
  if (n === 0) fail("the vocabulary is empty");
  // A hole-filled vocabulary is allocated below; refuse ids far beyond the entries that exist.
  if (n > byId.size + 65536) fail(`token ids go up to ${maxId} but there are only ${byId.size} tokens`);

  const preTokenizers = components(tj["pre_tokenizer"], "pretokenizers");
  const decoders = components(tj["decoder"], "decoders");
  const normalizers = components(tj["normalizer"], "normalizers");
  const byteLevel = preTokenizers.some((p) => p["type"] === "ByteLevel") || decoders.some((d) => d["type"] === "ByteLevel");
  const sentencePiece =
    m["byte_fallback"] === true ||
    decoders.some((d) => d["type"] === "ByteFallback" || d["type"] === "Metaspace") ||
    preTokenizers.some((p) => p["type"] === "Metaspace");
  if (!byteLevel && !sentencePiece) fail("is neither byte-level BPE nor SentencePiece-style BPE (no ByteLevel, Metaspace or byte_fallback)");

  const meta = new Map<string, MetaValue>();
  const tokens: string[] = new Array(n);
  const types: number[] = new Array(n);
  const mergesRaw = m["merges"];
  if (!Array.isArray(mergesRaw)) fail("model.merges is missing or not an array");
  const merges: string[] = (mergesRaw as unknown[]).map((x, i) => {
    if (typeof x === "string") return x;
    if (Array.isArray(x) && x.length === 2 && typeof x[0] === "string" && typeof x[1] === "string") return `${x[0]} ${x[1]}`;
    return fail(`model.merges[${i}] is neither "a b" nor ["a", "b"]`);
  });

  if (byteLevel) {
    for (let i = 0; i < n; i++) {
      const text = byId.get(i);
      const a = added.get(i);
      if (text === undefined) {
        tokens[i] = `[PAD${i}]`;
        types[i] = TokenType.UNUSED;
      } else if (a) {
        if (a["special"] === true || looksSpecial(text)) {
          tokens[i] = text;
          types[i] = TokenType.CONTROL;
        } else {
          tokens[i] = text.replaceAll("\u2581", " ");
          types[i] = TokenType.USER_DEFINED;
        }
      } else {
        tokens[i] = text;
        types[i] = TokenType.NORMAL;
      }
    }
    const split = preTokenizers.find((p) => p["type"] === "Split");
    let pre: string;
    if (split) {
      const pattern = isObject(split["pattern"]) ? (split["pattern"] as Json)["Regex"] : undefined;
      const known = typeof pattern === "string" ? KNOWN_SPLITS.get(pattern) : undefined;
      if (!known) fail(`the pre-tokenizer regex ${JSON.stringify(pattern)} is not one this tokenizer knows (Llama 3, Qwen2, GPT-2)`);
      pre = known!;
    } else {
      pre = "gpt-2";
    }
    meta.set("tokenizer.ggml.model", "gpt2");
    meta.set("tokenizer.ggml.pre", pre);
    meta.set("tokenizer.ggml.tokens", tokens);
    meta.set("tokenizer.ggml.token_type", types);
    meta.set("tokenizer.ggml.merges", merges);
  } else {
    // SentencePiece BPE merges by the score of the merged piece; HF lists merges in that order,
    // so the first merge that makes a piece stands for its score.
    const scores: number[] = new Array(n).fill(0);
    const firstRank = new Map<string, number>();
    merges.forEach((mg, rank) => {
      const sp = mg.indexOf(" ", 1);
      const joined = sp < 0 ? mg : mg.slice(0, sp) + mg.slice(sp + 1);
      if (!firstRank.has(joined)) firstRank.set(joined, rank);
    });
    const unkText = typeof m["unk_token"] === "string" ? m["unk_token"] : undefined;
    for (let i = 0; i < n; i++) {
      const text = byId.get(i);
      const a = added.get(i);
      if (text === undefined) {
        tokens[i] = `[PAD${i}]`;
        types[i] = TokenType.UNUSED;
        scores[i] = -1e9;
        continue;
      }
      tokens[i] = text;
      if (text === unkText) types[i] = TokenType.UNKNOWN;
      else if (a && (a["special"] === true || looksSpecial(text))) types[i] = TokenType.CONTROL;
      else if (a) types[i] = TokenType.USER_DEFINED;
      else if (BYTE_PIECE.test(text)) types[i] = TokenType.BYTE;
      else types[i] = TokenType.NORMAL;
      const r = firstRank.get(text);
      scores[i] = r !== undefined ? -r : [...text].length > 1 ? -1e9 : 0;
    }
    const prepends =
      normalizers.some((x) => x["type"] === "Prepend" && x["prepend"] === "\u2581") ||
      preTokenizers.some((p) => p["type"] === "Metaspace" && (p["prepend_scheme"] === "first" || p["prepend_scheme"] === "always" || p["add_prefix_space"] === true));
    meta.set("tokenizer.ggml.model", "llama");
    meta.set("tokenizer.ggml.pre", "default");
    meta.set("tokenizer.ggml.tokens", tokens);
    meta.set("tokenizer.ggml.scores", scores);
    meta.set("tokenizer.ggml.token_type", types);
    meta.set("tokenizer.ggml.add_space_prefix", prepends);
  }

  const idOf = new Map<string, number>();
  tokens.forEach((t, i) => idOf.set(t, i));
  for (const [i, t] of byId) if (!idOf.has(t)) idOf.set(t, i);
  const setId = (key: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const id = idOf.get(text);
    if (id === undefined) fail(`${key.replace("tokenizer.ggml.", "").replace("_id", "")} ${JSON.stringify(text)} is not in the vocabulary`);
    meta.set(key, id!);
    return id;
  };
  const template = templateProcessing(tj["post_processor"]);
  const bosText = tokenContent(config["bos_token"]) ?? template?.first;
  const eosText = tokenContent(config["eos_token"]) ?? template?.last;
  setId("tokenizer.ggml.bos_token_id", bosText);
  setId("tokenizer.ggml.eos_token_id", eosText);
  const unkText = tokenContent(config["unk_token"]) ?? (typeof m["unk_token"] === "string" ? m["unk_token"] : undefined);
  if (unkText !== undefined && idOf.has(unkText)) meta.set("tokenizer.ggml.unknown_token_id", idOf.get(unkText)!);
  const padText = tokenContent(config["pad_token"]);
  if (padText !== undefined && idOf.has(padText)) meta.set("tokenizer.ggml.padding_token_id", idOf.get(padText)!);

  let addBos: boolean | undefined = typeof config["add_bos_token"] === "boolean" ? config["add_bos_token"] : undefined;
  let addEos: boolean | undefined = typeof config["add_eos_token"] === "boolean" ? config["add_eos_token"] : undefined;
  if (template) {
    addBos ??= bosText !== undefined && template.first === bosText;
    addEos ??= eosText !== undefined && template.last === eosText;
  }
  // llama.cpp adds BOS for Llama 3 vocabularies whatever the file says; write it down.
  if (addBos === undefined && meta.get("tokenizer.ggml.pre") === "llama-bpe") addBos = true;
  if (addBos !== undefined) meta.set("tokenizer.ggml.add_bos_token", addBos);
  if (addEos !== undefined) meta.set("tokenizer.ggml.add_eos_token", addEos);

  const chat = config["chat_template"];
  if (typeof chat === "string") meta.set("tokenizer.chat_template", chat);
  else if (Array.isArray(chat)) {
    const named = chat.find((c) => isObject(c) && c["name"] === "default") ?? chat[0];
    if (isObject(named) && typeof named["template"] === "string") meta.set("tokenizer.chat_template", named["template"]);
  }
  return meta;
}

/** First and last special tokens of a TemplateProcessing post-processor's single-sequence template. */
function templateProcessing(pp: unknown): { first?: string; last?: string } | undefined {
  const t = components(pp, "processors").find((p) => p["type"] === "TemplateProcessing");
  if (!t || !Array.isArray(t["single"])) return undefined;
  const items = t["single"] as unknown[];
  const special = (item: unknown): string | undefined => {
    if (!isObject(item) || !isObject(item["SpecialToken"])) return undefined;
    const id = (item["SpecialToken"] as Json)["id"];
    return typeof id === "string" ? id : undefined;
  };
  const first = special(items[0]);
  const last = items.length > 1 ? special(items[items.length - 1]) : undefined;
  return { ...(first !== undefined ? { first } : {}), ...(last !== undefined ? { last } : {}) };
}
