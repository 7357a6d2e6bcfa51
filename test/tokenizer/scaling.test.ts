// Encoding must stay O(n log n): a long run of one character (one huge pre-token word, or a
// whitespace run the regexes could backtrack over) may not go quadratic. Growth is measured
// against input size rather than wall-clock limits, so a busy machine does not fail the test.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { Tokenizer } from "../../src/tokenizer/index.ts";
import { BPE_GGUF, SPM_GGUF, ggufTokenizer } from "./fixtures.ts";

function fastest(tok: Tokenizer, text: string): number {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    tok.encode(text, { addSpecial: false });
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

const RUNS = ["a", " ", "\n", "7", "!", "é", "中", "🦙", "ab", " \n"];

for (const [label, path] of [["llama-bpe", BPE_GGUF], ["llama-spm", SPM_GGUF]] as const) {
  test(`${label}: a run of one character scales like n log n, not n²`, async () => {
    const tok = await ggufTokenizer(path);
    for (const ch of RUNS) {
      const small = ch.repeat(Math.ceil(20_000 / ch.length));
      const large = ch.repeat(Math.ceil(160_000 / ch.length));
      // Warm up (JIT, caches), then compare: 8× the input may take ~8–12× the time; quadratic would be 64×.
      fastest(tok, small);
      const ts = Math.max(fastest(tok, small), 1);
      const tl = fastest(tok, large);
      assert.ok(tl / ts < 32, `${JSON.stringify(ch)}: 20 K ${ts.toFixed(1)} ms, 160 K ${tl.toFixed(1)} ms`);
      // And the tokens are right: the decode round trip holds.
      assert.equal(tok.decode(tok.encode(small, { addSpecial: false })), small);
    }
  });
}

test("llama-bpe: 1 MB of text with a 10 KB run of one character inside encodes promptly", async () => {
  const tok = await ggufTokenizer(BPE_GGUF);
  const sentence = "The quick brown fox jumps over the lazy dog; 敏捷的棕色狐狸跳过了懒狗。 ";
  let text = "";
  while (text.length < 500_000) text += sentence;
  text += "x".repeat(10_000) + text;
  const t0 = performance.now();
  const ids = tok.encode(text, { addSpecial: false });
  const ms = performance.now() - t0;
  assert.ok(ids.length > 100_000);
  assert.ok(ms < 20_000, `${ms.toFixed(0)} ms`);
  assert.equal(tok.decode(ids), text);
});
