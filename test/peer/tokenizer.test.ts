// Our tokenizers against llama.cpp itself (node-llama-cpp 3.21.1, vocab-only load) on random and
// adversarial text: the same ids for the Llama 2 (SPM) and Llama 3 (BPE) vocabularies, with and
// without special-token parsing.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import fc from "fast-check";
import { BPE_GGUF, SPM_GGUF, fixturePath, ggufTokenizer, readFixture } from "../tokenizer/fixtures.ts";
import { peer } from "./llamacpp.ts";

const dir = mkdtempSync(join(tmpdir(), "llamats-peer-tok-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const pieces = fc.constantFrom(
  " ", "  ", "   ", "\n", "\n\n", "\r\n", "\t", "\u00a0", "\u3000", "\u0085", "\ufeff", "'s", "'S", "'ll", "n't", "’re",
  "1", "12", "123", "1234567", "½", "٣", "Ⅻ", "a", "Hello", " world", "ÉTÉ", "e\u0301", "ß", "中文", "日本語の", "한국어",
  "🦙", "👩‍👩‍👧", "!!", "...", "?!", "<s>", "</s>", "<|eot_id|>", "<|begin_of_text|>", "▁", "\u200b", "$", "€", "—",
);
const text = fc.oneof(
  fc.string({ unit: "binary", maxLength: 30 }).map((s) => s.toWellFormed()),
  fc.array(fc.oneof(pieces, fc.string({ unit: "binary-ascii", maxLength: 3 })), { maxLength: 14 }).map((a) => a.join("")),
);

for (const [label, rel, hello] of [["llama-spm", SPM_GGUF, [15043, 3186]], ["llama-bpe", BPE_GGUF, [9906, 1917]]] as const) {
  test(`${label}: same ids as llama.cpp on random text`, async () => {
    let path = fixturePath(rel);
    if (rel.endsWith(".gz")) {
      path = join(dir, `${label}.gguf`);
      writeFileSync(path, readFixture(rel));
    }
    const llama = await peer();
    const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
    try {
      const ours = await ggufTokenizer(rel);
      // The peer really tokenizes with this vocabulary (llama.cpp logs a hparams error for vocab-only files but keeps the vocab).
      assert.deepEqual([...model.tokenize("Hello world")].map(Number), hello);
      assert.deepEqual([...model.tokenize("<|eot_id|></s>", true)].map(Number), [...ours.encode("<|eot_id|></s>", { addSpecial: false, parseSpecial: true })]);
      fc.assert(
        fc.property(text, fc.boolean(), (s, special) => {
          const theirs = [...model.tokenize(s, special)].map(Number);
          assert.deepEqual([...ours.encode(s, { addSpecial: false, parseSpecial: special })], theirs);
        }),
        { numRuns: 400 },
      );
    } finally {
      await model.dispose();
    }
  });
}
