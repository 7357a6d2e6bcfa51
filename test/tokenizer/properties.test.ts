// Property tests: decode(encode(s)) gives s back, and the streaming decoder's output equals the
// one-shot decode however the ids are split.

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { Tokenizer } from "../../src/tokenizer/index.ts";
import { BPE_GGUF, SPM_GGUF, STORIES_GGUF, ggufTokenizer } from "./fixtures.ts";

/** Text biased towards what breaks tokenizers: whitespace runs, digits, contractions, CJK, emoji, combining marks. */
const pieces = fc.constantFrom(
  " ", "  ", "\n", "\r\n", "\t", "\u00a0", "\u3000", "\u0085", "\ufeff", "'s", "'LL", "’", "123", "4567", "½", "٣",
  "a", "Hello", "world", "é", "e\u0301", "ß", "中文", "日本語", "한국어", "🦙", "👩‍👩‍👧", "<s>", "<|eot_id|>", "▁x", "!!", "...", "\u200b",
);
const text = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }).map((s) => s.toWellFormed()),
  fc.array(fc.oneof(pieces, fc.string({ unit: "binary-ascii", maxLength: 4 })), { maxLength: 16 }).map((a) => a.join("")),
);

const vocabularies: [string, string][] = [
  ["llama-bpe", BPE_GGUF],
  ["llama-spm", SPM_GGUF],
  ["stories260K", STORIES_GGUF],
];

function expectedRoundTrip(tok: Tokenizer, s: string): string {
  // SentencePiece writes spaces as "▁", so a literal "▁" in the text comes back as a space.
  return tok.vocab.model === "llama" ? s.replaceAll("\u2581", " ") : s;
}

for (const [label, path] of vocabularies) {
  test(`${label}: decode(encode(s)) == s`, async () => {
    const tok = await ggufTokenizer(path);
    fc.assert(
      fc.property(text, (s) => {
        const ids = tok.encode(s, { addSpecial: false });
        assert.equal(tok.decode(ids), expectedRoundTrip(tok, s));
        if (tok.vocab.model === "llama" && s.length > 0) {
          // With BOS the dummy-prefix space stays, as in llama.cpp's detokenize.
          assert.equal(tok.decode(tok.encode(s), { skipSpecial: true }), " " + expectedRoundTrip(tok, s));
        }
      }),
      { numRuns: 300 },
    );
  });

  test(`${label}: streaming decode equals one-shot decode for every split`, async () => {
    const tok = await ggufTokenizer(path);
    const anyIds = fc.array(fc.integer({ min: 0, max: tok.vocabSize - 1 }), { maxLength: 24 });
    const encodedIds = text.map((s) => [...tok.encode(s)]);
    fc.assert(
      fc.property(fc.oneof(anyIds, encodedIds), fc.array(fc.nat(), { maxLength: 6 }), fc.boolean(), (ids, cuts, skipSpecial) => {
        const opts = { skipSpecial, stripLeadingSpace: tok.vocab.addSpacePrefix };
        const whole = tok.decode(ids, opts);
        // One token at a time.
        const d1 = tok.createStreamDecoder(opts);
        let one = "";
        for (const id of ids) {
          const chunk = d1.write(id);
          assert.ok(chunk.isWellFormed(), "a chunk never ends inside a surrogate pair");
          one += chunk;
        }
        one += d1.end();
        assert.equal(one, whole);
        // Random chunks.
        const points = [...new Set(cuts.map((c) => c % (ids.length + 1)))].sort((a, b) => a - b);
        const d2 = tok.createStreamDecoder(opts);
        let out = "";
        let from = 0;
        for (const p of [...points, ids.length]) {
          out += d2.write(ids.slice(from, p));
          from = p;
        }
        out += d2.end();
        assert.equal(out, whole);
      }),
      { numRuns: 300 },
    );
  });
}

test("a character split over byte tokens comes out whole, once", async () => {
  const tok = await ggufTokenizer(SPM_GGUF);
  const ids = [...tok.encode("a🦙中b", { addSpecial: false })];
  const d = tok.createStreamDecoder({ stripLeadingSpace: true });
  const chunks = ids.map((id) => d.write(id));
  chunks.push(d.end());
  assert.equal(chunks.join(""), "a🦙中b");
  assert.ok(chunks.includes("🦙"), JSON.stringify(chunks));
  for (const c of chunks) assert.ok(!c.includes("\ufffd"));
  // Byte-level BPE splits multi-byte characters too.
  const bpe = await ggufTokenizer(BPE_GGUF);
  const rare = "\u{1F9D1}\u{200D}\u{1F52C}";
  const bids = [...bpe.encode(rare, { addSpecial: false })];
  assert.ok(bids.length > 1);
  const bd = bpe.createStreamDecoder();
  const bchunks = bids.map((id) => bd.write(id));
  assert.equal(bchunks.join("") + bd.end(), rare);
  for (const c of bchunks) assert.ok(!c.includes("\ufffd"));
});
