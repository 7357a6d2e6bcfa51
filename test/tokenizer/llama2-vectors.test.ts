// Llama 2 (SentencePiece) cases from transformers.js and belladore's llama-tokenizer-js, on
// llama.cpp's Llama 2 vocabulary GGUF.

import assert from "node:assert/strict";
import { test } from "node:test";
import { SPM_GGUF, ggufTokenizer, readJson } from "./fixtures.ts";

test("transformers.js llama2 cases: ids (with BOS), pieces and decode", async () => {
  const tok = await ggufTokenizer(SPM_GGUF);
  const cases = readJson("tokenizer/transformersjs-llama-tokenizer-cases.json").llama2.cases as
    Record<string, { text: string; tokens: string[]; ids: number[]; decoded: string }>;
  assert.equal(Object.keys(cases).length, 37);
  for (const [name, c] of Object.entries(cases)) {
    assert.deepEqual([...tok.encode(c.text)], c.ids, name);
    assert.deepEqual([...tok.encode(c.text, { addSpecial: false })].map((id) => tok.tokenText(id)), c.tokens, name);
    // HF's legacy SentencePiece decode renders "<s>" and keeps the space after it, as llama.cpp does.
    assert.equal(tok.decode(c.ids), c.decoded, name);
  }
});

test("belladore llama-tokenizer-js cases", async () => {
  const tok = await ggufTokenizer(SPM_GGUF);
  const cases = readJson("tokenizer/belladore-tokenizer-js-cases.json").llama2 as Record<string, any>[];
  assert.equal(cases.length, 32);
  for (const c of cases) {
    if (c.op === "encode") {
      assert.equal(c.add_dummy_prefix_space, true);
      assert.deepEqual([...tok.encode(c.text, { addSpecial: c.add_bos })], c.ids, c.text);
    } else {
      const ids: number[] = c.input_starts_with_bos_to_strip && c.ids[0] === tok.bos ? c.ids.slice(1) : c.ids;
      assert.equal(tok.decode(ids, { stripLeadingSpace: c.strip_dummy_prefix_space }), c.text);
    }
  }
});

test("Llama 2 special ids", async () => {
  const tok = await ggufTokenizer(SPM_GGUF);
  assert.equal(tok.vocabSize, 32000);
  assert.equal(tok.bos, 1);
  assert.equal(tok.eos, 2);
  assert.equal(tok.unk, 0);
  assert.equal(tok.eot, undefined);
  assert.deepEqual([...tok.eogIds], [2]);
  assert.equal(tok.addBos, true);
  assert.equal(tok.addEos, false);
});
