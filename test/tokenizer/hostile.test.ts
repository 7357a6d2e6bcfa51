// Vocabulary GGUFs with missing or inconsistent tokenizer keys must fail with a clear
// TokenizerError (a UserError: one line at the CLI), never a crash or a silent wrong tokenizer.

import assert from "node:assert/strict";
import { test } from "node:test";
import { isUserError } from "../../src/errors.ts";
import { MemorySink, readGguf, writeGguf } from "../../src/format/gguf.ts";
import type { MetaValue } from "../../src/format/model-file.ts";
import { BytesSource } from "../../src/format/source.ts";
import { TokenizerError, tokenizerFromMetadata } from "../../src/tokenizer/index.ts";
import { byteToChar } from "../../src/tokenizer/byte-level.ts";
import { STORIES_GGUF, ggufMetadata } from "./fixtures.ts";

async function viaGguf(meta: ReadonlyMap<string, MetaValue>) {
  const sink = new MemorySink();
  await writeGguf(sink, { metadata: meta, tensors: [] });
  const g = await readGguf(new BytesSource(sink.bytes(), "vocab.gguf"));
  return tokenizerFromMetadata(g.metadata, "vocab.gguf");
}

async function spm(changes: Record<string, MetaValue | undefined>) {
  const meta = new Map<string, MetaValue>();
  for (const [k, v] of await ggufMetadata(STORIES_GGUF)) if (k.startsWith("tokenizer.") || k.startsWith("general.")) meta.set(k, v);
  for (const [k, v] of Object.entries(changes)) v === undefined ? meta.delete(k) : meta.set(k, v);
  return meta;
}

/** A tiny byte-level BPE vocabulary: the 256 byte symbols, "ab", "abc". */
function bpe(changes: Record<string, MetaValue | undefined> = {}) {
  const tokens = [...byteToChar, "ab", "abc", "<|eot|>"];
  const meta = new Map<string, MetaValue>([
    ["tokenizer.ggml.model", "gpt2"],
    ["tokenizer.ggml.pre", "llama-bpe"],
    ["tokenizer.ggml.tokens", tokens],
    ["tokenizer.ggml.token_type", tokens.map((t) => (t === "<|eot|>" ? 3 : 1))],
    ["tokenizer.ggml.merges", ["a b", "ab c"]],
    ["tokenizer.ggml.bos_token_id", 258],
    ["tokenizer.ggml.eos_token_id", 258],
  ]);
  for (const [k, v] of Object.entries(changes)) v === undefined ? meta.delete(k) : meta.set(k, v);
  return meta;
}

async function rejects(meta: Promise<Map<string, MetaValue>> | Map<string, MetaValue>, message: RegExp) {
  await assert.rejects(viaGguf(await meta), (e: unknown) => {
    assert.ok(e instanceof TokenizerError, `TokenizerError, got ${String(e)}`);
    assert.ok(isUserError(e));
    assert.match((e as Error).message, message);
    assert.ok(!(e as Error).message.includes("\n"));
    return true;
  });
}

test("a well-formed small BPE vocabulary works (the baseline the hostile cases break)", async () => {
  const tok = await viaGguf(bpe());
  assert.deepEqual([...tok.encode("abc abd", { addSpecial: false })], [257, byteToChar.indexOf("Ġ"), 256, 100]);
  assert.equal(tok.decode(tok.encode("abc abd")), "<|eot|>abc abd");
  const s = await viaGguf(await spm({}));
  assert.equal(s.vocabSize, 512);
});

test("missing keys", async () => {
  await rejects(spm({ "tokenizer.ggml.model": undefined }), /vocab\.gguf: .*tokenizer\.ggml\.model is missing/);
  await rejects(spm({ "tokenizer.ggml.tokens": undefined }), /tokenizer\.ggml\.tokens is missing/);
  await rejects(bpe({ "tokenizer.ggml.merges": undefined }), /tokenizer\.ggml\.merges is missing/);
});

test("unknown models and pre-tokenizers", async () => {
  await rejects(spm({ "tokenizer.ggml.model": "bert" }), /unsupported tokenizer model "bert".*supported: llama, gpt2/);
  await rejects(spm({ "tokenizer.ggml.model": "none" }), /no vocabulary/);
  await rejects(bpe({ "tokenizer.ggml.pre": "klingon" }), /unsupported pre-tokenizer "klingon".*llama-bpe/);
});

test("arrays of the wrong length or type", async () => {
  const meta = await spm({});
  const scores = meta.get("tokenizer.ggml.scores") as number[];
  const types = meta.get("tokenizer.ggml.token_type") as number[];
  await rejects(spm({ "tokenizer.ggml.scores": scores.slice(1) }), /scores has 511 entries but there are 512 tokens/);
  await rejects(spm({ "tokenizer.ggml.token_type": types.slice(0, 100) }), /token_type has 100 entries but there are 512 tokens/);
  await rejects(spm({ "tokenizer.ggml.token_type": types.map((t, i) => (i === 7 ? 42 : t)) }), /token_type\[7\] is number 42, not a token type/);
  await rejects(spm({ "tokenizer.ggml.tokens": "abc" }), /tokens must be an array of strings/);
  await rejects(spm({ "tokenizer.ggml.scores": scores.map(String) }), /scores\[0\] is the string "0", not a number/);
  await rejects(spm({ "tokenizer.ggml.model": 7 }), /tokenizer\.ggml\.model must be a string/);
});

test("special ids outside the vocabulary, or required but unset", async () => {
  await rejects(spm({ "tokenizer.ggml.bos_token_id": 600 }), /bos_token_id = 600 is outside the vocabulary of 512 tokens/);
  await rejects(spm({ "tokenizer.ggml.eos_token_id": 512 }), /eos_token_id = 512 is outside/);
  await rejects(spm({ "tokenizer.ggml.bos_token_id": 0xffffffff }), /add_bos_token is true, but tokenizer\.ggml\.bos_token_id is not set/);
  // An out-of-range padding id is ignored, as llama.cpp does (such files exist).
  const tok = await viaGguf(await spm({ "tokenizer.ggml.padding_token_id": 99999 }));
  assert.equal(tok.pad, undefined);
});

test("duplicate tokens and merges that do not fit the vocabulary", async () => {
  const meta = await spm({});
  const tokens = [...(meta.get("tokenizer.ggml.tokens") as string[])];
  tokens[300] = tokens[299]!;
  await rejects(spm({ "tokenizer.ggml.tokens": tokens }), /duplicate token in vocabulary: .* has ids 299 and 300/);
  await rejects(bpe({ "tokenizer.ggml.merges": ["a b", "ab q9"] }), /merges\[1\] "ab q9" refers to "q9", which is not in the vocabulary/);
  await rejects(bpe({ "tokenizer.ggml.merges": ["a b", "b c"] }), /merges\[1\] "b c" makes "bc", which is not in the vocabulary/);
  await rejects(bpe({ "tokenizer.ggml.merges": ["ab"] }), /merges\[0\] "ab" is not two tokens/);
});

test("ids given to decode must be in the vocabulary", async () => {
  const tok = await viaGguf(bpe());
  assert.throws(() => tok.decode([1, 9999]), (e: unknown) => e instanceof TokenizerError && /9999 is outside the vocabulary of 259 tokens/.test((e as Error).message));
  assert.throws(() => tok.tokenToPiece(-1), TokenizerError);
});
