// Special tokens: parsed out of text only when asked, never produced from plain text; BOS/EOS per
// the vocabulary's flags; the SentencePiece dummy prefix after a special token.

import assert from "node:assert/strict";
import { test } from "node:test";
import { tokenizerFromMetadata } from "../../src/tokenizer/index.ts";
import type { MetaValue } from "../../src/format/model-file.ts";
import { BPE_GGUF, SPM_GGUF, ggufMetadata, ggufTokenizer } from "./fixtures.ts";

test("Llama 3: control tokens are text unless parseSpecial", async () => {
  const tok = await ggufTokenizer(BPE_GGUF);
  const text = "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>";
  const plain = [...tok.encode(text, { addSpecial: false })];
  assert.ok(plain.every((id) => id < 128000), "no control token from plain text");
  assert.equal(tok.decode(plain), text);
  const parsed = [...tok.encode(text, { addSpecial: false, parseSpecial: true })];
  assert.deepEqual(parsed, [128006, 882, 128007, 271, 6151, 128009]);
  assert.equal(tok.decode(parsed), text);
  assert.equal(tok.decode(parsed, { skipSpecial: true }), "user\n\nhi");
});

test("Llama 3: BOS is added once, EOS never (add_eos_token false)", async () => {
  const tok = await ggufTokenizer(BPE_GGUF);
  assert.deepEqual([...tok.encode("")], [128000]);
  assert.deepEqual([...tok.encode("", { addSpecial: false })], []);
  assert.deepEqual([...tok.encode("Hi")], [128000, 13347]);
  assert.deepEqual([...tok.encode("<|begin_of_text|>Hi", { parseSpecial: true })], [128000, 128000, 13347]);
});

test("Llama 2: <s> and </s> are text unless parseSpecial; the dummy prefix follows a special token", async () => {
  const tok = await ggufTokenizer(SPM_GGUF);
  const plain = [...tok.encode("<s>Hello</s>", { addSpecial: false })];
  assert.ok(!plain.includes(1) && !plain.includes(2));
  assert.equal(tok.decode(plain), "<s>Hello</s>");
  // llama.cpp: a text fragment after a special token gets the dummy-prefix space again.
  assert.deepEqual([...tok.encode("<s>Hello</s>", { addSpecial: false, parseSpecial: true })], [1, 15043, 2]);
  assert.deepEqual([...tok.encode("Hello world")], [1, 15043, 3186]);
  assert.deepEqual([...tok.encode("")], [1]);
});

test("Llama 2: byte fallback for characters outside the vocabulary, and the unknown token renders as text", async () => {
  const tok = await ggufTokenizer(SPM_GGUF);
  const ids = [...tok.encode("🦙", { addSpecial: false })];
  assert.deepEqual(ids.slice(-4).map((id) => tok.tokenText(id)), ["<0xF0>", "<0x9F>", "<0xA6>", "<0x99>"]);
  assert.equal(tok.decode(ids), "🦙");
  assert.equal(tok.tokenToPiece(0), "<unk>");
  assert.equal(tok.decode([0], { skipSpecial: true }), "");
});

async function withKeys(base: string, changes: Record<string, MetaValue | undefined>) {
  const meta = new Map(await ggufMetadata(base));
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) meta.delete(k);
    else meta.set(k, v);
  }
  return tokenizerFromMetadata(meta);
}

test("add_bos_token / add_eos_token flags are obeyed", async () => {
  const noBos = await withKeys(SPM_GGUF, { "tokenizer.ggml.add_bos_token": false, "tokenizer.ggml.add_eos_token": true });
  assert.deepEqual([...noBos.encode("Hello world")], [15043, 3186, 2]);
  assert.deepEqual([...noBos.encode("Hello world", { addSpecial: false })], [15043, 3186]);
  const bpeNoBos = await withKeys(BPE_GGUF, { "tokenizer.ggml.add_bos_token": false });
  assert.deepEqual([...bpeNoBos.encode("Hi")], [13347]);
});

test("user-defined tokens are always cut out of the text, control tokens only on request", async () => {
  const meta = new Map(await ggufMetadata(SPM_GGUF));
  const types = [...(meta.get("tokenizer.ggml.token_type") as number[])];
  const tokens = meta.get("tokenizer.ggml.tokens") as string[];
  const world = tokens.indexOf("▁world");
  types[world] = 4; // USER_DEFINED: text is matched verbatim ("▁world", not " world")
  meta.set("tokenizer.ggml.token_type", types);
  const tok = tokenizerFromMetadata(meta);
  const ids = [...tok.encode("a▁world", { addSpecial: false })];
  assert.ok(ids.includes(world));
  assert.equal(tok.decode(ids), "a▁world");
});

test("end-of-generation ids come from the text of the tokens when ids are not in the metadata", async () => {
  const meta = new Map(await ggufMetadata(BPE_GGUF));
  const tokens = [...(meta.get("tokenizer.ggml.tokens") as string[])];
  tokens[128008] = "<|eom_id|>";
  tokens[128010] = "<|im_end|>";
  meta.set("tokenizer.ggml.tokens", tokens);
  const tok = tokenizerFromMetadata(meta);
  assert.equal(tok.eot, 128009);
  assert.equal(tok.eom, 128008);
  assert.deepEqual([...tok.eogIds].sort(), [128001, 128008, 128009, 128010]);
  assert.ok(tok.isEog(128010) && !tok.isEog(128000));
});
