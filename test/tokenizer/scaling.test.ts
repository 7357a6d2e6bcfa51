// Encoding must stay O(n log n): a long run of one character (one huge pre-token word, or a
// whitespace run the regexes could backtrack over) may not go quadratic. The merge loop is
// checked by counting its queue operations (deterministic, whatever the machine load); the regex
// pre-tokenizer, which has no counter, by a time bound that only a quadratic blow-up could break
// (n² on 160 K characters is minutes, the linear path is milliseconds).

import assert from "node:assert/strict";
import { test } from "node:test";
import { BPE_GGUF, SPM_GGUF, ggufTokenizer } from "./fixtures.ts";

const RUNS = ["a", " ", "\n", "7", "!", "é", "中", "🦙", "ab", " \n", "a ", "'s"];

for (const [label, path] of [["llama-bpe", BPE_GGUF], ["llama-spm", SPM_GGUF]] as const) {
  test(`${label}: a run of one character scales like n log n, not n²`, async () => {
    const tok = await ggufTokenizer(path);
    for (const ch of RUNS) {
      const small = ch.repeat(Math.ceil(20_000 / ch.length));
      const large = ch.repeat(Math.ceil(160_000 / ch.length));
      const s0 = tok.mergeSteps;
      const smallIds = tok.encode(small, { addSpecial: false });
      const s1 = tok.mergeSteps;
      const t0 = performance.now();
      tok.encode(large, { addSpecial: false });
      const ms = performance.now() - t0;
      const s2 = tok.mergeSteps;
      const [ws, wl] = [s1 - s0, s2 - s1];
      // 8× the input may cost 8× the queue operations (plus slack); quadratic would be 64×.
      assert.ok(wl <= ws * 10 + 64, `${JSON.stringify(ch)}: ${ws} queue operations for 20 K, ${wl} for 160 K`);
      assert.ok(ms < 10_000, `${JSON.stringify(ch)}: 160 K characters took ${ms.toFixed(0)} ms`);
      assert.equal(tok.decode(smallIds), small);
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

test("the queue-operation counter really counts (a long word costs more than a short one)", async () => {
  const tok = await ggufTokenizer(SPM_GGUF);
  const s0 = tok.mergeSteps;
  tok.encode("a".repeat(1000), { addSpecial: false });
  const s1 = tok.mergeSteps;
  tok.encode("a".repeat(8000), { addSpecial: false });
  const s2 = tok.mergeSteps;
  assert.ok(s1 - s0 > 1000);
  assert.ok(s2 - s1 > 7 * (s1 - s0));
});
